package order

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Request is what a customer asks createorder for.
type Request struct {
	NodeCount int      `json:"node_count"`
	Hours     int      `json:"hours"`
	Topology  Topology `json:"topology"`
	// PaymentType is how the order is paid: PaymentTypeBolt11 (an invoice)
	// or PaymentTypeBolt12 (a single-use offer). Not part of the
	// description: an order rebuilt from lightningd knows it from where the
	// payment came.
	PaymentType string `json:"payment_type,omitempty"`
}

// ParamError refuses a call because of one parameter. Its message names the
// parameter and what it may be, so the customer can correct the call.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return e.Message
	}
	return e.Param + ": " + e.Message
}

// Names of the methods' parameters, in their positional order.
var (
	createOrderParams   = []string{"node_count", "hours", "topology", "payment_type"}
	invoiceStatusParams = []string{"payment_type", "invoice_id"}
	extendOrderParams   = []string{"invoice_id", "hours", "payment_type"}
)

// ParseCreateOrder reads createorder's params exactly as lightningd forwards
// them: an object (lightning-cli -k) or an array (positional), with numbers
// as JSON numbers or numeric strings. It validates them against p, so a
// Request it returns can be priced and sold.
func ParseCreateOrder(params json.RawMessage, p Products) (Request, error) {
	args, err := splitParams(params, createOrderParams)
	if err != nil {
		return Request{}, err
	}
	counts := p.NodeCounts()
	allowedCounts := joinInts(counts)

	nodes, err := wholeNumber(args["node_count"], "node_count", "one of "+allowedCounts)
	if err != nil {
		return Request{}, err
	}
	if _, ok := p.RateMsat[nodes]; !ok {
		return Request{}, &ParamError{"node_count", fmt.Sprintf("must be one of %s (got %d)", allowedCounts, nodes)}
	}
	hoursRange := fmt.Sprintf("a whole number from %d to %d", p.MinHours, p.MaxHours)
	hours, err := wholeNumber(args["hours"], "hours", hoursRange)
	if err != nil {
		return Request{}, err
	}
	if hours < p.MinHours || hours > p.MaxHours {
		return Request{}, &ParamError{"hours", fmt.Sprintf("must be %s (got %d)", hoursRange, hours)}
	}
	topology, err := parseTopology(args["topology"])
	if err != nil {
		return Request{}, err
	}
	paymentType, err := parsePaymentType(args["payment_type"], false)
	if err != nil {
		return Request{}, err
	}
	return Request{NodeCount: nodes, Hours: hours, Topology: topology, PaymentType: paymentType}, nil
}

// Payment types: a BOLT11 invoice (the default) or a BOLT12 offer.
const (
	PaymentTypeBolt11 = "bolt11"
	PaymentTypeBolt12 = "bolt12"
)

// parsePaymentType reads payment_type; absent means bolt11 unless the
// method requires it.
func parsePaymentType(raw json.RawMessage, required bool) (string, error) {
	const allowed = "bolt11 or bolt12"
	if raw == nil {
		if required {
			return "", &ParamError{"payment_type", "missing required parameter; must be " + allowed}
		}
		return PaymentTypeBolt11, nil
	}
	var t string
	if json.Unmarshal(raw, &t) != nil {
		return "", &ParamError{"payment_type", "must be the string " + allowed}
	}
	if t != PaymentTypeBolt11 && t != PaymentTypeBolt12 {
		return "", &ParamError{"payment_type", fmt.Sprintf("must be %s (got %s)", allowed, quoteShort(t))}
	}
	return t, nil
}

// ParseInvoiceStatus reads invoicestatus's params: the order id and the
// payment type it is asked about. An id that cannot be an order's is
// ErrNoSuchOrder.
func ParseInvoiceStatus(params json.RawMessage) (ID, string, error) {
	args, err := splitParams(params, invoiceStatusParams)
	if err != nil {
		return "", "", err
	}
	paymentType, err := parsePaymentType(args["payment_type"], true)
	if err != nil {
		return "", "", err
	}
	id, err := parseOrderID(args["invoice_id"])
	return id, paymentType, err
}

func parseOrderID(raw json.RawMessage) (ID, error) {
	if raw == nil {
		return "", &ParamError{"invoice_id", "missing required parameter; must be the order's uuid (bolt11_invoice_id)"}
	}
	var id string
	if json.Unmarshal(raw, &id) != nil {
		return "", ErrNoSuchOrder
	}
	return ParseID(id)
}

// splitParams maps positional or named params onto names. JSON null counts as
// absent, as in lightningd's own commands.
func splitParams(params json.RawMessage, names []string) (map[string]json.RawMessage, error) {
	usage := strings.Join(names, " ")
	params = bytes.TrimSpace(params)
	args := map[string]json.RawMessage{}
	if len(params) == 0 || bytes.Equal(params, []byte("null")) {
		return args, nil
	}
	switch params[0] {
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(params, &list); err != nil {
			return nil, &ParamError{"", "params must be an object or an array: " + usage}
		}
		if len(list) > len(names) {
			return nil, &ParamError{"", fmt.Sprintf("too many parameters: got %d, expected %s", len(list), usage)}
		}
		for i, v := range list {
			if !isNull(v) {
				args[names[i]] = v
			}
		}
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(params, &obj); err != nil {
			return nil, &ParamError{"", "params must be an object or an array: " + usage}
		}
		for k, v := range obj {
			known := false
			for _, n := range names {
				known = known || n == k
			}
			if !known {
				return nil, &ParamError{k, fmt.Sprintf("unknown parameter; expected %s", usage)}
			}
			if !isNull(v) {
				args[k] = v
			}
		}
	default:
		return nil, &ParamError{"", "params must be an object or an array: " + usage}
	}
	return args, nil
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// wholeNumber accepts a JSON integer or a string of decimal digits: what
// lightning-cli sends for "8" with and without -k.
func wholeNumber(raw json.RawMessage, name, allowed string) (int, error) {
	if raw == nil {
		return 0, &ParamError{name, "missing required parameter; must be " + allowed}
	}
	text := string(bytes.TrimSpace(raw))
	if strings.HasPrefix(text, `"`) {
		if json.Unmarshal(raw, &text) != nil {
			return 0, &ParamError{name, "must be " + allowed}
		}
	}
	digits := strings.TrimPrefix(text, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, &ParamError{name, fmt.Sprintf("must be %s (got %s)", allowed, quoteShort(text))}
	}
	n, err := strconv.Atoi(text)
	if err != nil || n > 1<<30 || n < -(1<<30) {
		return 0, &ParamError{name, fmt.Sprintf("must be %s (got %s)", allowed, quoteShort(text))}
	}
	return n, nil
}

// quoteShort echoes a bad value back without letting a caller make the error
// arbitrarily large.
func quoteShort(s string) string {
	const limit = 32
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return strconv.Quote(s)
}

func joinInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ", ")
}
