package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/proc"
)

// Postgres is the stack's own PostgreSQL cluster under Dir: Debian's server
// binaries, run as an unprivileged user (postgres refuses root), listening on
// 127.0.0.1:Port and on a socket in Dir/run.
type Postgres struct {
	Dir  string
	Port int
	// User is the database superuser Temporal connects as.
	User string

	bin  string
	cred *syscall.Credential
	mu   sync.Mutex // proc: a supervisor replaces it
	proc *proc.Proc
}

// DebianPackage is what provides the server binaries.
const DebianPackage = "postgresql"

func (p *Postgres) dataDir() string  { return filepath.Join(p.Dir, "data") }
func (p *Postgres) runDir() string   { return filepath.Join(p.Dir, "run") }
func (p *Postgres) logFile() string  { return filepath.Join(p.Dir, "postgres.log") }
func (p *Postgres) passFile() string { return filepath.Join(p.Dir, "password") }

// Password is the database password, made on first use and kept (0600) in
// Dir/password. It is passed to children through their environment only.
func (p *Postgres) Password() (string, error) {
	if b, err := os.ReadFile(p.passFile()); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(raw)
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(p.passFile(), []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write database password: %w", err)
	}
	return pw, nil
}

// findPostgresBin finds Debian's server binaries: $PG_BIN, else the newest
// /usr/lib/postgresql/<v>/bin.
func findPostgresBin() (string, error) {
	if b := os.Getenv("PG_BIN"); b != "" {
		return b, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(dirs) == 0 {
		return "", fmt.Errorf("PostgreSQL server not installed (no /usr/lib/postgresql/*/bin/postgres): apt-get install %s, or set PG_BIN", DebianPackage)
	}
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	return filepath.Dir(dirs[0]), nil
}

func pgVersion(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// prepare finds the binaries and, when running as root, the unprivileged
// user to run them as, and makes Dir usable by that user.
func (p *Postgres) prepare() error {
	if p.bin != "" {
		return nil
	}
	bin, err := findPostgresBin()
	if err != nil {
		return err
	}
	p.bin = bin
	if err := os.MkdirAll(p.runDir(), 0o755); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, and PostgreSQL refuses root: no 'postgres' user to run it as (apt-get install %s creates one): %w", DebianPackage, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if err := reachable(p.Dir); err != nil {
		return err
	}
	for _, d := range []string{p.Dir, p.runDir()} {
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	if _, err := os.Stat(p.dataDir()); err == nil {
		return filepath.Walk(p.dataDir(), func(path string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, uid, gid)
		})
	}
	return nil
}

// reachable checks that every directory above dir lets others through, so
// the unprivileged user can reach its data.
func reachable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("PostgreSQL runs as user postgres, which cannot enter %s (mode %v): chmod o+x %s, or put the stack's data elsewhere", d, st.Mode().Perm(), d)
		}
		if d == "/" {
			return nil
		}
	}
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// Init creates the cluster on first use; an existing one is kept.
func (p *Postgres) Init() (created bool, err error) {
	if err := p.prepare(); err != nil {
		return false, err
	}
	if _, err := os.Stat(filepath.Join(p.dataDir(), "PG_VERSION")); err == nil {
		return false, nil
	}
	pw, err := p.Password()
	if err != nil {
		return false, err
	}
	// initdb reads the password from a file its user can read; it is
	// removed as soon as initdb has run.
	pwFile := filepath.Join(p.runDir(), "initdb-pw")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		return false, err
	}
	defer os.Remove(pwFile)
	if p.cred != nil {
		if err := os.Chown(pwFile, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return false, err
		}
	}
	cmd := p.command("initdb", "-D", p.dataDir(), "-U", p.User, "--pwfile", pwFile,
		"--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale")
	if out, err := cmd.CombinedOutput(); err != nil {
		return false, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return true, nil
}

// Start runs the server and waits until it accepts connections.
func (p *Postgres) Start(ctx context.Context) error {
	if err := p.prepare(); err != nil {
		return err
	}
	logf, err := os.OpenFile(p.logFile(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	// Temporal's four services hold up to 30 connections each.
	cmd := p.command("postgres", "-D", p.dataDir(), "-k", p.runDir(), "-h", "127.0.0.1",
		"-p", strconv.Itoa(p.Port), "-c", "max_connections=300", "-c", "logging_collector=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	started, err := proc.Start(cmd)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	p.mu.Lock()
	p.proc = started
	p.mu.Unlock()
	for {
		ready := p.command("pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port)).Run() == nil
		if ready {
			return nil
		}
		select {
		case <-started.Exited():
			return fmt.Errorf("postgres exited at start; the end of %s:\n%s", p.logFile(), proc.Tail(p.logFile(), 8))
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready on port %d: %w; see %s", p.Port, ctx.Err(), p.logFile())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop shuts the server down cleanly (SIGINT: "fast" shutdown).
func (p *Postgres) Stop() {
	if cur := p.current(); cur != nil {
		cur.Stop(syscall.SIGINT, 60*time.Second)
	}
}

// Pid is the postmaster's process id (0 when not running).
func (p *Postgres) Pid() int {
	if cur := p.current(); cur != nil {
		return cur.Pid()
	}
	return 0
}

func (p *Postgres) current() *proc.Proc {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc
}

// restart starts the server again after it exited unasked (it recovers
// from its write-ahead log) and waits until it accepts connections.
func (p *Postgres) restart(ctx context.Context) (*proc.Proc, error) {
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	return p.current(), nil
}
