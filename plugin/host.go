package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"

	"github.com/niftynei/glightning/glightning"
	"github.com/niftynei/glightning/jrpc2"

	"github.com/lnplaylive/lnplaylive/internal/jsonframe"
)

// maxMessage bounds one message from lightningd. Ours are a few hundred
// bytes; getmanifest and init stay far below this.
const maxMessage = 1 << 20

// Method handles one of the plugin's RPC methods. params is what the caller
// sent, verbatim: an object, an array, or nothing.
type Method struct {
	// Manifest lists the method in getmanifest: glightning takes its name
	// from Name() and its usage string from its fields' json tags.
	Manifest    jrpc2.ServerMethod
	Description string
	Call        func(ctx context.Context, params json.RawMessage) (any, error)
}

// InitInfo is what lightningd says in `init`.
type InitInfo struct {
	Options      map[string]glightning.Option
	LightningDir string
	RPCFile      string
}

// Host speaks lightningd's plugin protocol on stdin/stdout.
//
// glightning handles the lifecycle: the manifest with its options and usage
// strings, and `init` with typed option values. Our own RPC methods are
// dispatched here instead of through glightning's jrpc2, which cannot reject
// unknown named parameters with a useful message, turns every error into
// code -1, truncates 3.5 to 3 and kills the process on an oversized message.
// Every byte to stdout goes through one writer, one whole message at a time,
// because lightningd kills a plugin that writes anything but JSON-RPC.
type Host struct {
	out     *messageWriter
	gl      *glightning.Plugin
	methods map[string]Method
	onInit  func(InitInfo) error
	log     *slog.Logger

	mu      sync.Mutex
	initID  json.RawMessage
	initErr error
	ready   chan struct{}
}

// NewHost prepares a plugin that writes protocol messages to stdout.
func NewHost(stdout io.Writer) *Host {
	h := &Host{out: &messageWriter{w: stdout}, methods: map[string]Method{}, ready: make(chan struct{})}
	h.log = slog.New(NewLogHandler(h.out, slog.LevelInfo))
	h.gl = glightning.NewPlugin(h.glInit)
	h.gl.SetDynamic(true) // `plugin stop` / `plugin start` work
	return h
}

// Logger writes to lightningd's log.
func (h *Host) Logger() *slog.Logger { return h.log }

// AddOption declares a `--name` lightningd option.
func (h *Host) AddOption(o glightning.Option) error { return h.gl.RegisterOption(o) }

// AddMethod declares an RPC method.
func (h *Host) AddMethod(m Method) error {
	name := m.Manifest.Name()
	if err := h.gl.RegisterMethod(glightning.NewRpcMethod(m.Manifest, m.Description)); err != nil {
		return fmt.Errorf("register %s: %w", name, err)
	}
	h.methods[name] = m
	return nil
}

// OnInit sets what runs when lightningd sends init. An error disables the
// plugin with that reason, which lightningd logs.
func (h *Host) OnInit(f func(InitInfo) error) { h.onInit = f }

// Run serves until stdin ends (lightningd stopped the plugin or exited).
func (h *Host) Run(ctx context.Context, stdin io.Reader) error {
	glInR, glInW, err := os.Pipe()
	if err != nil {
		return err
	}
	glOutR, glOutW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer glInW.Close()
	go func() { _ = h.gl.Start(glInR, glOutW) }()
	go h.relayGlightning(glOutR)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := jsonframe.NewReader(stdin, maxMessage)
	for {
		msg, err := in.Next()
		switch {
		case err == nil:
		case errors.Is(err, jsonframe.ErrTooLarge), errors.Is(err, jsonframe.ErrNotObject):
			h.log.Warn("ignored a message from lightningd", "error", err)
			continue
		case errors.Is(err, io.EOF):
			return nil
		default:
			return fmt.Errorf("read from lightningd: %w", err)
		}
		h.dispatch(ctx, msg, glInW)
	}
}

type envelope struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

func (h *Host) dispatch(ctx context.Context, msg []byte, glIn io.Writer) {
	var env envelope
	if err := json.Unmarshal(msg, &env); err != nil {
		h.log.Warn("ignored malformed JSON from lightningd", "error", err)
		return
	}
	hasID := len(env.ID) > 0 && !bytes.Equal(env.ID, []byte("null"))
	if !hasID {
		return // a notification we did not subscribe to; nothing to answer
	}
	if !validID(env.ID) {
		h.out.reply(env.ID, nil, &jrpc2.RpcError{Code: -32600, Message: "invalid request: id must be a string or an integer"})
		return
	}
	if env.JSONRPC != "2.0" || env.Method == "" {
		h.out.reply(env.ID, nil, &jrpc2.RpcError{Code: -32600, Message: `invalid request: need "jsonrpc":"2.0" and a method`})
		return
	}
	if m, ok := h.methods[env.Method]; ok {
		go h.call(ctx, m, env)
		return
	}
	if env.Method == "init" {
		h.mu.Lock()
		h.initID = append(json.RawMessage(nil), env.ID...)
		h.mu.Unlock()
	}
	// glightning reads messages split on "\n\n"; compact JSON has no raw newline.
	var buf bytes.Buffer
	if err := json.Compact(&buf, msg); err != nil {
		return
	}
	buf.WriteString("\n\n")
	if _, err := glIn.Write(buf.Bytes()); err != nil {
		h.log.Error("hand message to glightning", "error", err)
	}
}

// validID accepts what lightningd sends (strings) and integers.
func validID(id json.RawMessage) bool {
	var v any
	if json.Unmarshal(id, &v) != nil {
		return false
	}
	switch n := v.(type) {
	case string:
		return true
	case float64:
		return n == float64(int64(n))
	}
	return false
}

func (h *Host) call(ctx context.Context, m Method, env envelope) {
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("method panicked", "method", env.Method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			h.out.reply(env.ID, nil, &jrpc2.RpcError{Code: -32603, Message: "internal error in " + env.Method})
		}
	}()
	select {
	case <-h.ready:
	default:
		h.out.reply(env.ID, nil, &jrpc2.RpcError{Code: -1, Message: "lnplaylive is not initialized"})
		return
	}
	h.mu.Lock()
	initErr := h.initErr
	h.mu.Unlock()
	if initErr != nil {
		h.out.reply(env.ID, nil, &jrpc2.RpcError{Code: -1, Message: "lnplaylive is disabled: " + initErr.Error()})
		return
	}
	res, err := m.Call(ctx, env.Params)
	if err != nil {
		code, msg := ErrorCode(err)
		h.out.reply(env.ID, nil, &jrpc2.RpcError{Code: code, Message: msg})
		return
	}
	h.out.reply(env.ID, res, nil)
}

// glInit runs inside glightning's init handling, before it answers.
func (h *Host) glInit(p *glightning.Plugin, opts map[string]glightning.Option, c *glightning.Config) {
	var err error
	if h.onInit != nil {
		info := InitInfo{Options: opts}
		if c != nil {
			info.LightningDir, info.RPCFile = c.LightningDir, c.RpcFile
		}
		err = h.onInit(info)
	}
	h.mu.Lock()
	h.initErr = err
	h.mu.Unlock()
	select {
	case <-h.ready:
	default:
		close(h.ready)
	}
}

// relayGlightning copies glightning's messages to lightningd. Its answer to
// init becomes `{}` (or a `disable` with the reason), the shape lightningd
// documents, instead of glightning's bare "ok".
func (h *Host) relayGlightning(r io.Reader) {
	in := jsonframe.NewReader(r, maxMessage)
	for {
		msg, err := in.Next()
		if errors.Is(err, jsonframe.ErrTooLarge) || errors.Is(err, jsonframe.ErrNotObject) {
			continue
		}
		if err != nil {
			return
		}
		var env struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal(msg, &env)
		h.mu.Lock()
		isInit := h.initID != nil && bytes.Equal(env.ID, h.initID)
		initErr := h.initErr
		h.mu.Unlock()
		if isInit {
			result := map[string]string{}
			if initErr != nil {
				h.log.Error("disabling lnplaylive", "reason", initErr.Error())
				result["disable"] = initErr.Error()
			}
			h.out.reply(env.ID, result, nil)
			continue
		}
		h.out.raw(msg)
	}
}

// NotDispatched is embedded in manifest entries: glightning lists them, but
// calls never reach it because Host dispatches our methods itself.
type NotDispatched struct{}

// Call is never reached.
func (NotDispatched) Call() (jrpc2.Result, error) {
	return nil, errors.New("not dispatched through glightning")
}

// messageWriter writes whole protocol messages, one at a time.
type messageWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (m *messageWriter) raw(msg []byte) {
	var buf bytes.Buffer
	if json.Compact(&buf, msg) != nil {
		return // never forward what lightningd could not parse
	}
	buf.WriteString("\n\n")
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.w.Write(buf.Bytes())
}

func (m *messageWriter) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.w.Write(append(b, '\n', '\n'))
}

func (m *messageWriter) reply(id json.RawMessage, result any, rpcErr *jrpc2.RpcError) {
	type response struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result,omitempty"`
		Error   *jrpc2.RpcError `json:"error,omitempty"`
	}
	if rpcErr == nil && result == nil {
		result = map[string]any{}
	}
	m.send(response{JSONRPC: "2.0", ID: id, Result: result, Error: rpcErr})
}
