package dockerengine

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"
)

// Init runs inside a new container's mount and PID namespaces, as its PID
// 1: it lays out the container's filesystem (private /root, /home and
// /tmp, the volumes at their paths, the project's hosts file as
// /etc/hosts), then becomes the image's entrypoint, or with `init: true`
// runs it under a docker-init that forwards signals and reaps orphans.
//
// It tells the engine on readyFD (inherited, see container.start) that
// the command runs: the byte 'R' just before it becomes the command (or
// has started it, under init), or else why not. A command that exits at
// once has still run, as under Docker, whose start succeeds for it.
func Init(specPath string) (err error) {
	ready := os.NewFile(readyFD, "ready")
	defer func() {
		if err != nil {
			_, _ = ready.WriteString(err.Error())
		}
	}()
	// The command never inherits it.
	unix.CloseOnExec(readyFD)
	b, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var s initSpec
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	// The sources are opened before the private directories hide them
	// (a daemon's state may live under /root or /home).
	mounts := append(s.Mounts, mount{Source: s.Hosts, Target: "/etc/hosts"})
	fds := make([]int, len(mounts))
	for i, m := range mounts {
		if fds[i], err = syscall.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("volume %s: %w", m.Source, err)
		}
	}
	for _, dir := range []string{"/root", "/home"} {
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("mount %s: %w", dir, err)
		}
	}
	for i, m := range mounts {
		if m.Target != "/etc/hosts" {
			if err := os.MkdirAll(m.Target, 0o755); err != nil {
				return err
			}
		}
		if err := syscall.Mount(fmt.Sprintf("/proc/self/fd/%d", fds[i]), m.Target, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("mount %s at %s: %w", m.Source, m.Target, err)
		}
		syscall.Close(fds[i])
	}
	env := envList(s.Env)
	os.Clearenv()
	for k, v := range s.Env {
		os.Setenv(k, v)
	}
	dir := s.WorkDir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return err
	}
	if len(s.Argv) == 0 {
		return fmt.Errorf("no command specified")
	}
	path, err := exec.LookPath(s.Argv[0])
	if err != nil {
		// Docker's words for it.
		return fmt.Errorf("exec: %q: executable file not found in $PATH", s.Argv[0])
	}
	if !s.Init {
		if _, err := ready.Write([]byte{'R'}); err != nil {
			return err
		}
		return syscall.Exec(path, s.Argv, env)
	}
	return dockerInit(path, s.Argv, env, ready)
}

// readyFD is where Init finds the engine's readiness pipe: the first of
// the command's extra files.
const readyFD = 3

// dockerInit is docker-init (tini) as `init: true` gives it: forward every
// catchable signal to the child, reap whatever exits, and exit as the
// child did.
func dockerInit(path string, argv, env []string, ready *os.File) error {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	cmd := &exec.Cmd{Path: path, Args: argv, Env: env, Stdin: nil, Stdout: os.Stdout, Stderr: os.Stderr}
	if err := cmd.Start(); err != nil {
		return err
	}
	if _, err := ready.Write([]byte{'R'}); err != nil {
		return err
	}
	ready.Close()
	child := cmd.Process.Pid
	go func() {
		for s := range sigs {
			_ = syscall.Kill(child, s.(syscall.Signal))
		}
	}()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err != nil {
			return err
		}
		if pid == child {
			if ws.Signaled() {
				os.Exit(128 + int(ws.Signal()))
			}
			os.Exit(ws.ExitStatus())
		}
	}
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// ExecArgv is the nsenter command line that runs argv inside a running
// container, with the container's environment: `docker exec`.
func ExecArgv(pid int, env map[string]string, argv []string) []string {
	out := []string{"nsenter", fmt.Sprintf("--target=%d", pid), "--net", "--mount", "--pid", "--wd=/", "--", "env", "-i"}
	out = append(out, envList(env)...)
	return append(out, argv...)
}
