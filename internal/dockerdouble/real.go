package main

// Real mode: with DOCKER_DOUBLE_CLN (an unpacked Core Lightning build) and
// DOCKER_DOUBLE_CHAIN (../shared's fake-bitcoin-cli) set, the cln-<i>
// services are real lightningd processes on one regtest chain per project,
// and lightning-cli is the real one. bitcoind's wallet stays this double's
// model (no Bitcoin Core can run here), but its blocks and payments land on
// that chain, where the nodes see them.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type realCLN struct {
	build, chainCLI, dir string // dir: the project's state
}

// realMode is set when the environment names a build and a chain.
func realMode(stateDir, project string) *realCLN {
	build, chain := os.Getenv("DOCKER_DOUBLE_CLN"), os.Getenv("DOCKER_DOUBLE_CHAIN")
	if build == "" || chain == "" {
		return nil
	}
	return &realCLN{build: build, chainCLI: chain, dir: filepath.Join(stateDir, "real", project)}
}

func (r *realCLN) nodeDir(service string) string { return filepath.Join(r.dir, service) }

func (r *realCLN) chain(args ...string) (string, error) {
	cmd := exec.Command(r.chainCLI, args...)
	cmd.Env = append(os.Environ(), "FAKE_BTC_STATE="+filepath.Join(r.dir, "chain.json"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("chain %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

var (
	serviceLine = regexp.MustCompile(`^  (cln-\d+):$`)
	p2pMapping  = regexp.MustCompile(`"(\d+):9735"`)
	aliasOption = regexp.MustCompile(`"--alias=([^"]+)"`)
)

// perService reads, for each cln-<i> service of the compose file, the
// first submatch of re in its lines.
func perService(compose string, re *regexp.Regexp) map[string]string {
	found := map[string]string{}
	svc := ""
	for _, line := range strings.Split(compose, "\n") {
		if m := serviceLine.FindStringSubmatch(line); m != nil {
			svc = m[1]
		}
		if m := re.FindStringSubmatch(line); m != nil && svc != "" {
			found[svc] = m[1]
		}
	}
	return found
}

// p2pPorts reads each node's published p2p port from the compose file:
// the double's nodes listen there, as the containers' 9735 is published.
func p2pPorts(compose string) map[string]string { return perService(compose, p2pMapping) }

// up starts every node that is not running, with the compose file's
// alias and the playground's developer options.
func (r *realCLN) up(compose string) error {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return err
	}
	aliases := perService(compose, aliasOption)
	for svc, port := range p2pPorts(compose) {
		if _, err := r.cli(svc, "getinfo"); err == nil {
			continue
		}
		cmd := exec.Command(filepath.Join(r.build, "lightningd", "lightningd"), "--lightning-dir="+r.nodeDir(svc),
			"--network=regtest", "--bitcoin-cli="+r.chainCLI, "--bind-addr=127.0.0.1:"+port, "--alias="+aliases[svc],
			"--developer", "--dev-fast-gossip", "--dev-bitcoind-poll=1", "--log-file="+filepath.Join(r.nodeDir(svc), "log"), "--daemon")
		cmd.Env = append(os.Environ(), "FAKE_BTC_STATE="+filepath.Join(r.dir, "chain.json"))
		// --daemon returns once it forked; its output goes to the log.
		cmd.Stdout, cmd.Stderr = nil, nil
		if err := os.MkdirAll(r.nodeDir(svc), 0o700); err != nil {
			return err
		}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("lightningd %s: %w", svc, err)
		}
	}
	return nil
}

func (r *realCLN) cli(svc string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(r.build, "cli", "lightning-cli"), append([]string{"--lightning-dir=" + r.nodeDir(svc), "--network=regtest"}, args...)...)
	return cmd.Output()
}

var peerHost = regexp.MustCompile(`cln-(\d+):9735`)

// lightningCLI runs the real lightning-cli. Hosts on the project's network
// (cln-<j>:9735) become the node's address here, as Docker's DNS would
// resolve them.
func (r *realCLN) lightningCLI(compose, svc string, argv []string) (string, string, int) {
	ports := p2pPorts(compose)
	args := make([]string, len(argv))
	for i, a := range argv {
		args[i] = peerHost.ReplaceAllStringFunc(a, func(m string) string {
			return "127.0.0.1:" + ports[strings.TrimSuffix(m, ":9735")]
		})
	}
	cmd := exec.Command(filepath.Join(r.build, "cli", "lightning-cli"), append([]string{"--lightning-dir=" + r.nodeDir(svc), "--network=regtest"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	method := ""
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			method = a
			break
		}
	}
	if exit, ok := err.(*exec.ExitError); ok {
		return string(out), method, exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lightning-cli:", err)
		return "", method, 2
	}
	return string(out), method, 0
}

// down stops the project's nodes and removes their state.
func (r *realCLN) down() {
	entries, _ := os.ReadDir(r.dir)
	for _, e := range entries {
		if e.IsDir() {
			_, _ = r.cli(e.Name(), "stop")
		}
	}
	time.Sleep(500 * time.Millisecond)
	_ = os.RemoveAll(r.dir)
}

// height is the real chain's tip.
func (r *realCLN) height() (int, error) {
	out, err := r.chain("getblockcount")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(out)
}
