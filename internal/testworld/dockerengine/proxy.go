package dockerengine

import (
	"io"
	"net"
	"strconv"
	"sync"
)

// proxy publishes one container port on the host's address, as
// docker-proxy does: it listens while the container runs.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// listenProxy listens on hostAddr:hostPort and connects each client to
// addr:port with dial.
func listenProxy(hostAddr string, hostPort int, addr string, port int, dial func(string) (net.Conn, error)) (*proxy, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(hostAddr, strconv.Itoa(hostPort)))
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, conns: map[net.Conn]bool{}}
	target := net.JoinHostPort(addr, strconv.Itoa(port))
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(in, target, dial)
		}
	}()
	return p, nil
}

func (p *proxy) serve(in net.Conn, target string, dial func(string) (net.Conn, error)) {
	out, err := dial(target)
	if err != nil {
		in.Close()
		return
	}
	if !p.track(in, out) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
	p.untrack(in, out)
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

// close stops listening and cuts the connections: the container is gone.
func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
