package plugin

import (
	"errors"

	"github.com/lnplaylive/lnplaylive/order"
)

// JSON-RPC error codes the plugin answers with (common/jsonrpc_errors.h).
const (
	CodeInvalidParams = -32602 // a parameter is wrong; the message names it
	CodeGeneric       = -1     // anything else: lightningd or Temporal failed
)

// ErrorCode maps an error to the JSON-RPC error a caller receives.
func ErrorCode(err error) (int, string) {
	var pe *order.ParamError
	switch {
	case errors.As(err, &pe):
		return CodeInvalidParams, pe.Error()
	case errors.Is(err, order.ErrNoSuchOrder):
		return CodeInvalidParams, "invoice_id: no such order"
	case errors.Is(err, order.ErrNotALiveNode):
		return CodeInvalidParams, "address: " + err.Error()
	default:
		return CodeGeneric, err.Error()
	}
}
