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
func Init(specPath string) error {
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
	// The engine's start returns once this process is the command (or,
	// with init, has started it): see waitReady.
	if !s.Init {
		return syscall.Exec(path, s.Argv, env)
	}
	return dockerInit(path, s.Argv, env)
}

// dockerInit is docker-init (tini) as `init: true` gives it: forward every
// catchable signal to the child, reap whatever exits, and exit as the
// child did.
func dockerInit(path string, argv, env []string) error {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	cmd := &exec.Cmd{Path: path, Args: argv, Env: env, Stdin: nil, Stdout: os.Stdout, Stderr: os.Stderr}
	if err := cmd.Start(); err != nil {
		return err
	}
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
