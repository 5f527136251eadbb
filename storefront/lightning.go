package storefront

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

// Node is the payment node as the storefront sees it: the plugin's public
// methods, called through lightningd.
type Node interface {
	Call(ctx context.Context, method string, params, result any) error
}

// Socket is a Node on lightningd's JSON-RPC socket. It dials on first use
// and again after lightningd restarts: the storefront outlives its node.
type Socket struct {
	Path string

	mu sync.Mutex
	c  *cln.Client
}

// Call implements Node.
func (s *Socket) Call(ctx context.Context, method string, params, result any) error {
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	err = c.Call(ctx, method, params, result)
	if errors.Is(err, cln.ErrClosed) {
		s.mu.Lock()
		if s.c == c {
			s.c = nil
		}
		s.mu.Unlock()
	}
	return err
}

func (s *Socket) client(ctx context.Context) (*cln.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		return s.c, nil
	}
	c, err := cln.Dial(ctx, s.Path, "lnplaylive-web")
	if err != nil {
		return nil, err
	}
	s.c = c
	return c, nil
}

// Close closes the connection, if any.
func (s *Socket) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return nil
	}
	err := s.c.Close()
	s.c = nil
	return err
}

// The plugin's methods.
const (
	methodProducts      = "lnplaylive-products"
	methodCreateOrder   = "lnplaylive-createorder"
	methodInvoiceStatus = "lnplaylive-invoicestatus"
	methodPayment       = "lnplaylive-payment"
	methodExtendOrder   = "lnplaylive-extendorder"
)

// callTimeout bounds one call: a page is better served by an error than by
// a hang while the node is stuck.
const callTimeout = 15 * time.Second

// refusal is the plugin refusing a request for what it asks (JSON-RPC
// -32602), or for want of capacity ("no capacity …"): the customer can
// change the request, or come back. Its text is the plugin's,
// which names the parameter and what it may be.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// errNoSuchOrder is an order id the node does not know.
var errNoSuchOrder = errors.New("no such order")

// call calls method and sorts its failure: a refusal, no such order, or
// the node being unreachable or failing (anything else).
func call(ctx context.Context, n Node, method string, params, result any) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := n.Call(ctx, method, params, result)
	var e *cln.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e) && e.Code == -32602 && strings.HasSuffix(e.Message, order.ErrNoSuchOrder.Error()):
		return errNoSuchOrder
	case errors.As(err, &e) && (e.Code == -32602 || strings.HasPrefix(e.Message, "no capacity")):
		return &refusal{msg: e.Message}
	default:
		return fmt.Errorf("%s: %w", method, err)
	}
}
