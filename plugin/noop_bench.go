//go:build lnplaylivebench

package plugin

import (
	"context"
	"encoding/json"
)

// The bench build (go build -tags lnplaylivebench) has one more method:
// lnplaylive-noop does nothing. Called under invoicestatus's load, it is
// the floor of any plugin method: lightningd → plugin → lightningd.

type noopManifest struct {
	notDispatched
	PaymentType json.RawMessage `json:"payment_type,omitempty"`
	InvoiceID   json.RawMessage `json:"invoice_id,omitempty"`
}

func (*noopManifest) Name() string     { return "lnplaylive-noop" }
func (*noopManifest) New() interface{} { return &noopManifest{} }

// noopReply is an unpaid order's status, constant, so the floor carries
// the same bytes through lightningd as the answers it bounds: what is
// measured against it is the plugin's own work, not the size of a reply.
var noopReply = json.RawMessage(`{"invoice_id":"00000000-0000-4000-8000-000000000000","payment_type":"bolt11","invoice_status":"unpaid","deployment_details":"not_deployed"}`)

func init() {
	benchMethods = append(benchMethods, Method{Manifest: &noopManifest{},
		Description: "BENCH BUILD ONLY: does nothing (the floor of a plugin method)",
		Call:        func(context.Context, json.RawMessage) (any, error) { return noopReply, nil }})
}
