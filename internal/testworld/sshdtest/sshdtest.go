// Package sshdtest runs a real OpenSSH sshd on loopback for tests: its own
// host key, one authorized key, a non-default port, and a PATH that puts a
// test's command doubles first (the container runtime cannot run here).
package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lnplaylive/lnplaylive/internal/proc"
	"github.com/lnplaylive/lnplaylive/internal/testworld/devserver"
)

// Binary is where Debian's openssh-server installs sshd (`make deps`).
const Binary = "/usr/sbin/sshd"

// Server is one sshd.
type Server struct {
	t       testing.TB
	Listen  string
	Port    int
	Dir     string
	cfgPath string
	logPath string
	p       *proc.Proc
}

// Config says how to run it.
type Config struct {
	HostKey    ed25519.PrivateKey // the key the server presents
	Authorized ssh.PublicKey      // the key the client logs in with
	PathPrefix string             // prepended to PATH in sessions
	Env        map[string]string  // more session environment
	Port       int                // 0: a free one
	Listen     string             // loopback address; default 127.0.0.1
}

// NewKey makes an ed25519 key pair.
func NewKey(t testing.TB) (ed25519.PrivateKey, ssh.Signer) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return priv, signer
}

// Start runs sshd until the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("%s missing: run `make deps` (apt-get install openssh-server)", Binary)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation dir
		t.Fatal(err)
	}
	dir := t.TempDir()
	if cfg.Port == 0 {
		cfg.Port = devserver.FreePort(t)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1"
	}
	s := &Server{t: t, Listen: cfg.Listen, Port: cfg.Port, Dir: dir, cfgPath: filepath.Join(dir, "sshd_config"), logPath: filepath.Join(dir, "sshd.log")}
	block, err := ssh.MarshalPrivateKey(cfg.HostKey, "test host key")
	if err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "host_key")
	writeFile(t, hostKey, pemEncode(block.Type, block.Bytes), 0o600)
	writeFile(t, filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(cfg.Authorized), 0o600)
	path := "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
	if cfg.PathPrefix != "" {
		path = cfg.PathPrefix + ":" + path
	}
	setEnv := "PATH=" + path
	for k, v := range cfg.Env {
		setEnv += " " + k + "=" + v
	}
	conf := fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s
AuthorizedKeysFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile %s
Subsystem sftp internal-sftp
SetEnv %s
LogLevel ERROR
`, s.Port, s.Listen, hostKey, filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"), setEnv)
	writeFile(t, s.cfgPath, []byte(conf), 0o600)
	if out, err := exec.Command(Binary, "-t", "-f", s.cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return fmt.Sprintf("%s:%d", s.Listen, s.Port) }

// Start (re)starts sshd and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	p, err := proc.Start(exec.Command(Binary, "-D", "-f", s.cfgPath, "-E", s.logPath))
	if err != nil {
		s.t.Fatal(err)
	}
	s.p = p
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.logPath)
			s.t.Fatalf("sshd did not start: %v\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the listener (sessions in progress end with it, since sshd -D
// kills its children's connections when the listener goes).
func (s *Server) Stop() {
	if s.p != nil {
		s.p.Stop(syscall.SIGTERM, 5*time.Second)
	}
}

// Log is sshd's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return strings.TrimSpace(string(b))
}

func writeFile(t testing.TB, name string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, data, mode); err != nil {
		t.Fatal(err)
	}
}
