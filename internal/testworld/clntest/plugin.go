package clntest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/jsonframe"
)

// Manifest is a plugin's getmanifest result, as far as lightningd checks it.
type Manifest struct {
	Options []struct {
		Name        string          `json:"name"`
		Type        string          `json:"type"`
		Default     json.RawMessage `json:"default"`
		Description string          `json:"description"`
	} `json:"options"`
	RPCMethods []struct {
		Name string `json:"name"`
		// Usage must be there; lightningd takes an empty one (a method
		// without parameters).
		Usage *string `json:"usage"`
	} `json:"rpcmethods"`
	Subscriptions []string        `json:"subscriptions"`
	Dynamic       bool            `json:"dynamic"`
	NonNumericIDs *bool           `json:"nonnumericids"`
	FeatureBits   json.RawMessage `json:"featurebits"`
}

// LogLine is one `log` notification from the plugin.
type LogLine struct{ Level, Message string }

// Plugin is a plugin process run as lightningd runs it (PLUGIN-PROTOCOL.md).
type Plugin struct {
	node     *Node
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	stderr   *bytes.Buffer
	Manifest Manifest
	Disabled string // the reason, if the plugin disabled itself in init

	wmu     sync.Mutex
	mu      sync.Mutex
	pending map[string]chan reply
	seq     int
	logs    []LogLine
	dead    chan struct{}
	fatal   string // why lightningd would have killed it
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

// PluginConfig says how to start a plugin.
type PluginConfig struct {
	Path string
	// Options overrides option values (by name, without "--").
	Options map[string]any
	// Developer adds --developer to argv, as lightningd --developer does.
	Developer bool
}

var optionName = regexp.MustCompile(`^[a-z0-9_-]+$`)

// StartPlugin runs the plugin through getmanifest and init.
func (n *Node) StartPlugin(cfg PluginConfig) (*Plugin, error) {
	argv := []string{}
	if cfg.Developer {
		argv = append(argv, "--developer")
	}
	cmd := exec.Command(cfg.Path, argv...)
	cmd.Dir = n.Dir
	cmd.Env = append(os.Environ(), "LIGHTNINGD_PLUGIN=1", "LIGHTNINGD_VERSION=v26.06.6")
	p := &Plugin{node: n, cmd: cmd, stderr: &bytes.Buffer{}, pending: map[string]chan reply{}, dead: make(chan struct{})}
	cmd.Stderr = &lockedWriter{w: p.stderr}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start plugin: %w", err)
	}
	n.mu.Lock()
	n.plugins = append(n.plugins, p)
	n.mu.Unlock()
	// Wait closes the stdout pipe once the process exits: it must run only
	// after the reader has seen EOF, or a read racing it fails with "file
	// already closed" and is taken for output lightningd would refuse.
	// Every way out of read either is EOF or kills the process.
	readDone := make(chan struct{})
	go func() { p.read(stdout); close(readDone) }()
	go func() { <-readDone; _ = cmd.Wait(); p.markDead() }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	raw, rerr := p.request(ctx, "cln:getmanifest#0", "getmanifest", map[string]any{"allow-deprecated-apis": false})
	if rerr != nil {
		return p, fmt.Errorf("getmanifest: %v", rerr)
	}
	if err := p.checkManifest(raw); err != nil {
		p.kill("bad manifest: " + err.Error())
		return p, err
	}
	opts := map[string]any{}
	for _, o := range p.Manifest.Options {
		if len(o.Default) > 0 {
			opts[o.Name] = o.Default
		}
	}
	for k, v := range cfg.Options {
		opts[k] = v
	}
	initParams := map[string]any{
		"options": opts,
		"configuration": map[string]any{
			"lightning-dir": n.Dir, "rpc-file": n.RPCFile, "startup": true, "network": "regtest",
			"feature_set": map[string]string{"init": "08a0000a8a5961", "node": "88a0000a8a5961", "channel": "", "invoice": "02000002024100"},
		},
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	raw, rerr = p.request(ctx2, "cln:init#1", "init", initParams)
	if rerr != nil {
		return p, fmt.Errorf("init: %v", rerr)
	}
	var initRes map[string]any
	if err := json.Unmarshal(raw, &initRes); err != nil {
		p.kill("init result is not an object")
		return p, fmt.Errorf("init result %s is not an object", raw)
	}
	if d, ok := initRes["disable"]; ok {
		p.Disabled = fmt.Sprint(d)
	}
	return p, nil
}

func (p *Plugin) checkManifest(raw json.RawMessage) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("result is not an object")
	}
	if _, ok := m["rpcmethods"]; !ok {
		return errors.New("result.rpcmethods missing")
	}
	if err := json.Unmarshal(raw, &p.Manifest); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	for _, r := range p.Manifest.RPCMethods {
		if r.Name == "" || r.Usage == nil {
			return fmt.Errorf("rpcmethod %q needs a name and a usage", r.Name)
		}
	}
	for _, o := range p.Manifest.Options {
		if !optionName.MatchString(o.Name) {
			return fmt.Errorf("option name %q", o.Name)
		}
		switch o.Type {
		case "string", "string-conceal", "int", "bool", "flag":
		default:
			return fmt.Errorf("option %s: type %q", o.Name, o.Type)
		}
		if o.Description == "" {
			return fmt.Errorf("option %s needs a description", o.Name)
		}
		if len(o.Default) > 0 {
			var v any
			_ = json.Unmarshal(o.Default, &v)
			ok := false
			switch o.Type {
			case "int":
				f, isNum := v.(float64)
				ok = isNum && f == float64(int64(f))
			case "bool":
				_, ok = v.(bool)
			case "flag":
				ok = v == false
			default:
				_, ok = v.(string)
			}
			if !ok {
				return fmt.Errorf("option %s: default %s is not a %s", o.Name, o.Default, o.Type)
			}
		}
	}
	if p.Manifest.NonNumericIDs != nil && !*p.Manifest.NonNumericIDs {
		return errors.New("nonnumericids must be true if present")
	}
	if p.Manifest.Dynamic && len(p.Manifest.FeatureBits) > 0 {
		var fb map[string]string
		_ = json.Unmarshal(p.Manifest.FeatureBits, &fb)
		for _, v := range fb {
			if v != "" {
				return errors.New("featurebits are refused for a dynamic plugin")
			}
		}
	}
	return nil
}

// read parses the plugin's stdout as lightningd does: any object without
// "jsonrpc", any invalid JSON, or a bad log notification kills the plugin.
func (p *Plugin) read(stdout io.Reader) {
	in := jsonframe.NewReader(stdout, 64<<20)
	for {
		msg, err := in.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.kill("unparseable output: " + err.Error())
			}
			return
		}
		var env struct {
			JSONRPC *string         `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Method  string          `json:"method"`
			Params  json.RawMessage `json:"params"`
			Result  json.RawMessage `json:"result"`
			Error   json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(msg, &env); err != nil {
			p.kill("invalid JSON: " + err.Error())
			return
		}
		if env.JSONRPC == nil {
			p.kill(`JSON-RPC message does not contain "jsonrpc" field`)
			return
		}
		if len(env.ID) > 0 && string(env.ID) != "null" {
			p.handleReply(env.ID, env.Result, env.Error)
			continue
		}
		switch env.Method {
		case "log":
			var params struct {
				Level   *string `json:"level"`
				Message *string `json:"message"`
			}
			if json.Unmarshal(env.Params, &params) != nil || params.Message == nil {
				p.kill("log notification without a string message")
				return
			}
			level := "info"
			if params.Level != nil {
				level = strings.ToLower(*params.Level)
			}
			switch level {
			case "trace", "debug", "info", "unusual", "warn", "broken", "error":
			default:
				p.kill("log notification with unknown level " + level)
				return
			}
			p.mu.Lock()
			for _, line := range strings.Split(*params.Message, "\n") {
				p.logs = append(p.logs, LogLine{level, line})
			}
			p.mu.Unlock()
		case "message", "progress":
		default:
			p.node.violation("plugin sent undeclared notification %q", env.Method)
		}
	}
}

func (p *Plugin) handleReply(id, result, rpcErr json.RawMessage) {
	var sid string
	if json.Unmarshal(id, &sid) != nil {
		return // not an id lightningd sent: ignored, as lightningd does
	}
	p.mu.Lock()
	ch := p.pending[sid]
	delete(p.pending, sid)
	p.mu.Unlock()
	if ch == nil {
		return // lightningd ignores unknown ids
	}
	var r reply
	hasResult := len(result) > 0 && string(result) != "null"
	hasError := len(rpcErr) > 0 && string(rpcErr) != "null"
	switch {
	case hasResult == hasError:
		p.node.violation("reply to %s has %v result and %v error", sid, hasResult, hasError)
		r.Error = &RPCError{Code: -32603, Message: "malformed plugin reply"}
	case hasError:
		var e struct {
			Code    *int            `json:"code"`
			Message *string         `json:"message"`
			Data    json.RawMessage `json:"data"`
		}
		if json.Unmarshal(rpcErr, &e) != nil || e.Code == nil || e.Message == nil {
			p.node.violation("reply to %s: error %s lacks an integer code or a string message", sid, rpcErr)
			r.Error = &RPCError{Code: -32603, Message: "malformed plugin error"}
		} else {
			r.Error = &RPCError{Code: *e.Code, Message: *e.Message, Data: e.Data}
		}
	default:
		r.Result = result
	}
	ch <- r
}

func (p *Plugin) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_, err = p.stdin.Write(append(b, '\n', '\n'))
	return err
}

// SendRaw writes bytes to the plugin's stdin as they are: for hostile-input tests.
func (p *Plugin) SendRaw(b []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_, err := p.stdin.Write(b)
	return err
}

func (p *Plugin) request(ctx context.Context, id, method string, params any) (json.RawMessage, *RPCError) {
	ch := make(chan reply, 1)
	p.mu.Lock()
	p.pending[id] = ch
	p.mu.Unlock()
	if err := p.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params}); err != nil {
		return nil, &RPCError{Code: -4, Message: "Plugin terminated before replying to RPC call."}
	}
	select {
	case r := <-ch:
		return r.Result, r.Error
	case <-p.dead:
		return nil, &RPCError{Code: -4, Message: "Plugin terminated before replying to RPC call."}
	case <-ctx.Done():
		return nil, &RPCError{Code: -1, Message: "timed out waiting for the plugin: " + ctx.Err().Error()}
	}
}

// Call invokes a plugin RPC method as lightning-cli does through lightningd:
// params is forwarded verbatim (an object for -k, an array otherwise).
func (p *Plugin) Call(ctx context.Context, method string, params any) (json.RawMessage, *RPCError) {
	p.mu.Lock()
	p.seq++
	id := fmt.Sprintf("cli:%s#%d/cln:%s#%d", method, p.seq, method, 100+p.seq)
	p.mu.Unlock()
	return p.request(ctx, id, method, params)
}

// notify sends a notification if the plugin subscribed to the topic.
func (p *Plugin) notify(topic string, payload any) {
	subscribed := false
	for _, s := range p.Manifest.Subscriptions {
		subscribed = subscribed || s == topic || s == "*"
	}
	if !subscribed {
		return
	}
	b, _ := json.Marshal(payload)
	if err := p.node.schemas.ValidateResponse("notification/"+topic, b); err != nil {
		p.node.violation("stand-in notification: %v", err)
	}
	_ = p.send(map[string]any{"jsonrpc": "2.0", "method": topic, "params": map[string]any{topic: json.RawMessage(b)}})
}

// Pid is the plugin process's id.
func (p *Plugin) Pid() int { return p.cmd.Process.Pid }

// Logs returns the plugin's log lines so far.
func (p *Plugin) Logs() []LogLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]LogLine(nil), p.logs...)
}

// Stderr is what the plugin wrote to stderr.
func (p *Plugin) Stderr() string {
	w := p.cmd.Stderr.(*lockedWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.String()
}

// Fatal says why lightningd would have killed the plugin ("" if it would not).
func (p *Plugin) Fatal() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fatal
}

// Alive reports whether the process is still running.
func (p *Plugin) Alive() bool {
	select {
	case <-p.dead:
		return false
	default:
		return true
	}
}

// Stop closes stdin, as lightningd does on `plugin stop`, and waits for exit.
func (p *Plugin) Stop() error {
	p.stdin.Close()
	select {
	case <-p.dead:
		return nil
	case <-time.After(30 * time.Second):
		p.Kill()
		return errors.New("plugin did not exit within 30 s of stdin closing")
	}
}

// Kill ends the process at once (SIGKILL).
func (p *Plugin) Kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.dead
}

func (p *Plugin) kill(reason string) {
	p.mu.Lock()
	if p.fatal == "" {
		p.fatal = reason
	}
	p.mu.Unlock()
	p.node.violation("lightningd would kill the plugin: %s", reason)
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
}

func (p *Plugin) markDead() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.dead:
	default:
		close(p.dead)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
