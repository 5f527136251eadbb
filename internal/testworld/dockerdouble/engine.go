package main

// Engine mode: with DOCKER_DOUBLE_ENGINE (a socket) set, this CLI talks to
// the container engine double (internal/dockerengine), which runs the
// compose file with the real binaries. The double's own subcommands:
//
//	docker __daemon <socket> <state dir> <host address> <CLN build> <Bitcoin build>
//	docker __init <spec>   (inside a new container; the engine runs it)

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/testworld/dockerengine"
)

// engineMain handles the engine's own subcommands, and every command in
// engine mode; it reports false when the model answers instead.
func engineMain(args []string) bool {
	if len(args) > 0 && args[0] == "__init" && len(args) == 2 {
		if err := dockerengine.Init(args[1]); err != nil {
			fmt.Fprintln(os.Stderr, "docker: Error response from daemon: failed to create task for container:", err)
			os.Exit(127)
		}
		return true
	}
	if len(args) == 6 && args[0] == "__daemon" {
		runDaemon(args[1], args[2], args[3], dockerengine.Builds{CLN: args[4], Bitcoin: args[5]})
		return true
	}
	socket := os.Getenv("DOCKER_DOUBLE_ENGINE")
	if socket == "" {
		return false
	}
	if dir := os.Getenv("DOCKER_DOUBLE_STATE"); dir != "" {
		record(dir, args)
		if d := consumeSleep(dir, args); d > 0 {
			time.Sleep(d)
		}
	}
	r, err := dockerengine.Call(socket, args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprint(os.Stdout, r.Stdout)
	fmt.Fprint(os.Stderr, r.Stderr)
	code := r.Code
	if r.Exec != nil {
		code = runExec(r.Exec)
	}
	if dir := os.Getenv("DOCKER_DOUBLE_STATE"); dir != "" && code == 0 {
		if consumeFault(dir, methodOf(args)) {
			killSession()
		}
	}
	os.Exit(code)
	return true
}

// runExec runs a command inside a container as `docker exec -T` does:
// this process's stdin, stdout and stderr, and the command's exit code.
func runExec(p *dockerengine.ExecPlan) int {
	argv := dockerengine.ExecArgv(p.Pid, p.Env, p.Argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "exec:", err)
		return 126
	}
	return 0
}

// methodOf is the RPC method of an exec'd lightning-cli or bitcoin-cli:
// its first word that is not a flag.
func methodOf(args []string) string {
	for i, a := range args {
		if a == "lightning-cli" || a == "bitcoin-cli" {
			_, words := splitArgs(args[i+1:])
			if len(words) > 0 {
				return words[0]
			}
		}
	}
	return ""
}

func runDaemon(socket, dir, hostAddr string, builds dockerengine.Builds) {
	self, err := os.Executable()
	if err != nil {
		fail(err.Error())
	}
	d, err := dockerengine.New(dockerengine.Config{Dir: dir, Self: self, HostAddr: hostAddr, Builds: builds})
	if err != nil {
		fail(err.Error())
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	// The engine lives as long as whoever started it (a test): when that
	// dies, however, the engine takes its containers down with it.
	parent := os.Getppid()
	go func() {
		for os.Getppid() == parent {
			time.Sleep(time.Second)
		}
		sigs <- syscall.SIGTERM
	}()
	go func() {
		<-sigs
		d.Shutdown()
		os.Exit(0)
	}()
	if err := d.Serve(socket); err != nil {
		fail(err.Error())
	}
}
