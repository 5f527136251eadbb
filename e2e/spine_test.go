package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/lnplaylive/lnplaylive/internal/testworld/bolt11"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

func TestOrderFromCreateToPaid(t *testing.T) {
	s := newSystem(t, options{})
	before := time.Now()
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 48})

	if r.NodeCount != 8 || r.Hours != 48 {
		t.Fatalf("reply %+v", r)
	}
	if _, err := order.ParseID(string(r.BOLT11InvoiceID)); err != nil || strings.HasPrefix(string(r.BOLT11InvoiceID), "lnplaylive-") {
		t.Fatalf("bolt11_invoice_id %q is not a bare uuid", r.BOLT11InvoiceID)
	}
	expiresAfter, err := time.Parse(time.RFC3339, r.ExpiresAfter)
	if err != nil || !strings.HasSuffix(r.ExpiresAfter, "Z") {
		t.Fatalf("expires_after %q", r.ExpiresAfter)
	}
	if d := expiresAfter.Sub(before.Add(48 * time.Hour)); d < -time.Second || d > 5*time.Second {
		t.Fatalf("expires_after %s is not creation + 48 h", r.ExpiresAfter)
	}
	inv, err := bolt11.Decode(r.BOLT11Invoice)
	if err != nil {
		t.Fatal(err)
	}
	if inv.AmountMsat != 76_800_000 || inv.Description != "lnplay.live - 8 nodes for 48 hours." || inv.Expiry != 300*time.Second {
		t.Fatalf("invoice amount %d description %q expiry %s", inv.AmountMsat, inv.Description, inv.Expiry)
	}
	if got := s.node.Invoices(); len(got) != 1 || got[0].Label != "lnplaylive-"+string(r.BOLT11InvoiceID) {
		t.Fatalf("invoices in lightningd: %+v", got)
	}

	// Unpaid, asked by bare and by prefixed id.
	for _, id := range []string{string(r.BOLT11InvoiceID), "lnplaylive-" + string(r.BOLT11InvoiceID)} {
		st := s.status(id)
		if st.InvoiceID != string(r.BOLT11InvoiceID) || st.PaymentType != "bolt11" || st.InvoiceStatus != "unpaid" || string(st.DeploymentDetails) != `"not_deployed"` {
			t.Fatalf("status of %s: %+v", id, st)
		}
	}

	if err := s.node.Pay("lnplaylive-" + string(r.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	st := s.waitStatus(string(r.BOLT11InvoiceID), 20*time.Second, paidAndDeploying)
	d := st.deployment(t)
	paidAt := time.Unix(s.node.Invoices()[0].PaidAt, 0).UTC()
	if d.VMExpirationDate != paidAt.Add(48*time.Hour).Format(time.RFC3339) || d.PluginVersion != order.PluginVersion {
		t.Fatalf("deployment %+v, paid at %s", d, paidAt)
	}

	// The workflow itself holds the payment: it is the source of truth.
	c := s.client()
	v, err := c.QueryWorkflow(context.Background(), "lnplaylive-"+string(r.BOLT11InvoiceID), "", workflows.QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	var state workflows.State
	if err := v.Get(&state); err != nil {
		t.Fatal(err)
	}
	if state.InvoiceStatus != order.InvoicePaid || state.Deployment == nil || state.Deployment.Status != order.StartingDeployment {
		t.Fatalf("workflow state %+v", state)
	}
}

func TestUnpaidInvoiceReachesExpiry(t *testing.T) {
	s := newSystem(t, options{invoiceExpiry: 2})
	r := s.createOrder([]any{"8", "3"}) // positional, numbers as strings
	if inv, err := bolt11.Decode(r.BOLT11Invoice); err != nil || inv.Expiry != 2*time.Second || inv.AmountMsat != 200_000*8*3 {
		t.Fatalf("invoice %+v, %v", inv, err)
	}
	s.waitStatus(string(r.BOLT11InvoiceID), 15*time.Second, func(st status) bool {
		return st.InvoiceStatus == "expired" && string(st.DeploymentDetails) == `"not_deployed"`
	})
	c := s.client()
	var res workflows.Result
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.GetWorkflow(ctx, "lnplaylive-"+string(r.BOLT11InvoiceID), "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Paid {
		t.Fatalf("workflow result %+v", res)
	}
}

func TestPaymentDuringTemporalOutageIsPickedUp(t *testing.T) {
	s := newSystem(t, options{})
	r := s.createOrder(map[string]any{"node_count": "16", "hours": 3})
	s.temporal.Stop()
	if err := s.node.Pay("lnplaylive-" + string(r.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	// lightningd knows it is paid; Temporal cannot be asked yet.
	time.Sleep(time.Second)
	s.temporal.Start()
	st := s.waitStatus(string(r.BOLT11InvoiceID), 60*time.Second, paidAndDeploying)
	_ = st
	s.assertWorkflowPaid(string(r.BOLT11InvoiceID))
}

func TestPaymentWhilePluginIsDownIsPickedUp(t *testing.T) {
	s := newSystem(t, options{})
	first := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	second := s.createOrder(map[string]any{"node_count": 32, "hours": 4})
	if err := s.node.Pay("lnplaylive-" + string(first.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(string(first.BOLT11InvoiceID), 20*time.Second, paidAndDeploying)
	if err := s.plugin.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.node.Pay("lnplaylive-" + string(second.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	s.startPlugin()
	s.waitStatus(string(second.BOLT11InvoiceID), 20*time.Second, paidAndDeploying)
	s.assertWorkflowPaid(string(second.BOLT11InvoiceID))
	s.assertWorkflowPaid(string(first.BOLT11InvoiceID))
}

// A payment lightningd accepted shortly before the invoice expired, relayed
// only after the workflow had already ended as expired (the plugin was down),
// still deploys: lightningd's "paid" is authoritative.
func TestPaymentRelayedAfterWorkflowExpiredStillDeploys(t *testing.T) {
	s := newSystem(t, options{invoiceExpiry: 2})
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	if err := s.plugin.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.node.Pay("lnplaylive-" + string(r.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	c := s.client()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var res workflows.Result
	if err := c.GetWorkflow(ctx, "lnplaylive-"+string(r.BOLT11InvoiceID), "").Get(ctx, &res); err != nil || res.Paid {
		t.Fatalf("first run should end unpaid: %+v %v", res, err)
	}
	s.startPlugin()
	s.waitStatus(string(r.BOLT11InvoiceID), 20*time.Second, paidAndDeploying)
	s.assertWorkflowPaid(string(r.BOLT11InvoiceID))
}

func (s *system) assertWorkflowPaid(id string) {
	s.t.Helper()
	c := s.client()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := c.QueryWorkflow(context.Background(), "lnplaylive-"+id, "", workflows.QueryStatus)
		var st workflows.State
		if err == nil && v.Get(&st) == nil && st.InvoiceStatus == order.InvoicePaid {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("workflow of %s not paid: %+v %v", id, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRefusedInputsCreateNothing(t *testing.T) {
	s := newSystem(t, options{})
	type call struct {
		method string
		params string
		code   int
		want   string // in the error message
	}
	const co, is, ex = "lnplaylive-createorder", "lnplaylive-invoicestatus", "lnplaylive-extendorder"
	cases := []call{
		{co, `{}`, -32602, "node_count: missing"},
		{co, `[]`, -32602, "node_count: missing"},
		{co, `{"node_count":8}`, -32602, "hours: missing"},
		{co, `{"hours":48}`, -32602, "node_count: missing"},
		{co, `{"node_count":0,"hours":48}`, -32602, "node_count: must be one of 8, 16, 32, 64"},
		{co, `{"node_count":-8,"hours":48}`, -32602, "node_count: must be one of 8, 16, 32, 64"},
		{co, `{"node_count":7,"hours":48}`, -32602, "node_count: must be one of 8, 16, 32, 64"},
		{co, `{"node_count":128,"hours":48}`, -32602, "node_count: must be one of"},
		{co, `{"node_count":8.5,"hours":48}`, -32602, "node_count: must be one of"},
		{co, `{"node_count":"eight","hours":48}`, -32602, "node_count: must be one of"},
		{co, `{"node_count":true,"hours":48}`, -32602, "node_count"},
		{co, `{"node_count":[8],"hours":48}`, -32602, "node_count"},
		{co, `{"node_count":8,"hours":2}`, -32602, "hours: must be a whole number from 3 to 504"},
		{co, `{"node_count":8,"hours":505}`, -32602, "hours: must be a whole number from 3 to 504"},
		{co, `{"node_count":8,"hours":0}`, -32602, "hours: must be"},
		{co, `{"node_count":8,"hours":-3}`, -32602, "hours: must be"},
		{co, `{"node_count":8,"hours":3.5}`, -32602, "hours: must be"},
		{co, `{"node_count":8,"hours":"48h"}`, -32602, "hours: must be"},
		{co, `{"node_count":8,"hours":99999999999999999999}`, -32602, "hours: must be"},
		{co, `{"node_count":8,"hours":48,"coupon":"free"}`, -32602, "coupon: unknown parameter; expected node_count hours topology payment_type"},
		{co, `{"node_count":8,"hours":48,"topology":"ring"}`, -32602, "topology: must be one of mesh, prism, none"},
		{co, `[8,48,1]`, -32602, "topology: must be one of"},
		{co, `[8,48,"mesh",1]`, -32602, "payment_type: must be the string bolt11 or bolt12"},
		{co, `[8,48,"mesh","bolt11",1]`, -32602, "too many parameters"},
		{co, `{"node_count":8,"hours":48,"payment_type":"lnurl"}`, -32602, "payment_type: must be bolt11 or bolt12"},
		// This stand-in lightningd has no offers plugin: no `offer` command.
		{co, `{"node_count":8,"hours":48,"payment_type":"bolt12"}`, -32602, "bolt12 is not available on this node"},
		{co, `"8 48"`, -32602, "params must be an object or an array"},
		{is, `{"payment_type":"bolt12","invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112"}`, -32602, "no such order"},
		{is, `{"payment_type":"lnurl","invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112"}`, -32602, "payment_type: must be bolt11 or bolt12"},
		{is, `{"invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112"}`, -32602, "payment_type: missing"},
		{is, `{"payment_type":"bolt11"}`, -32602, "invoice_id: missing"},
		{is, `{"payment_type":"bolt11","invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112"}`, -32602, "no such order"},
		{is, `{"payment_type":"bolt11","invoice_id":"lnplaylive-../../etc"}`, -32602, "no such order"},
		{is, `{"payment_type":"bolt11","invoice_id":42}`, -32602, "no such order"},
		{is, `["bolt11","not-a-uuid"]`, -32602, "no such order"},
		{is, `{"payment_type":"bolt11","invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112","verbose":true}`, -32602, "verbose: unknown parameter"},
		{ex, `{"invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112","hours":3}`, -32602, "no such order"},
		{ex, `{"invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112","hours":0}`, -32602, "hours: must be a whole number from 1 to 504"},
		{ex, `{"invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112","hours":505}`, -32602, "hours: must be a whole number from 1 to 504"},
		{ex, `{"hours":3}`, -32602, "invoice_id: missing"},
		{ex, `{"invoice_id":"8d33e17d-0385-46c0-82f2-16c989f7b112","hours":3,"payment_type":"cash"}`, -32602, "payment_type: must be bolt11 or bolt12"},
		{ex, `["8d33e17d-0385-46c0-82f2-16c989f7b112",3,"bolt11",1]`, -32602, "too many parameters"},
	}
	c := s.client()
	for _, tc := range cases {
		_, rerr := s.call(tc.method, json.RawMessage(tc.params))
		if rerr == nil {
			t.Errorf("%s %s: accepted", tc.method, tc.params)
			continue
		}
		if rerr.Code != tc.code || !strings.Contains(rerr.Message, tc.want) {
			t.Errorf("%s %s: got %d %q, want %d containing %q", tc.method, tc.params, rerr.Code, rerr.Message, tc.code, tc.want)
		}
	}
	if n := s.node.Calls("invoice"); n != 0 {
		t.Errorf("refused calls created %d invoices", n)
	}
	resp, err := c.CountWorkflow(context.Background(), &workflowCountRequest)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetCount() != 0 {
		t.Errorf("refused calls started %d workflows", resp.GetCount())
	}
	if !s.plugin.Alive() {
		t.Fatal("plugin died")
	}
	// The plugin still works after all of that.
	s.createOrder(map[string]any{"node_count": 64, "hours": 504})
}

// Operators find orders by status and size (Web UI, `temporal workflow list`).
func TestOrdersAreSearchableByStatusAndNodeCount(t *testing.T) {
	s := newSystem(t, options{})
	paid := s.createOrder(map[string]any{"node_count": 16, "hours": 3})
	unpaid := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	if err := s.node.Pay("lnplaylive-" + string(paid.BOLT11InvoiceID)); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(string(paid.BOLT11InvoiceID), 20*time.Second, paidAndDeploying)
	c := s.client()
	find := func(query string) []string {
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
			if err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			var ids []string
			for _, e := range resp.GetExecutions() {
				ids = append(ids, e.GetExecution().GetWorkflowId())
			}
			if len(ids) > 0 || time.Now().After(deadline) {
				return ids
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if ids := find(`OrderStatus = "starting_deployment" AND NodeCount = 16 AND Hours = 3`); len(ids) != 1 || ids[0] != "lnplaylive-"+string(paid.BOLT11InvoiceID) {
		t.Fatalf("paid order search: %v", ids)
	}
	if ids := find(`OrderStatus = "unpaid" AND NodeCount = 8`); len(ids) != 1 || ids[0] != "lnplaylive-"+string(unpaid.BOLT11InvoiceID) {
		t.Fatalf("unpaid order search: %v", ids)
	}
	if ids := find(`ExpiresAt > "2026-01-01T00:00:00Z" AND PaidAt > "2026-01-01T00:00:00Z"`); len(ids) != 1 {
		t.Fatalf("time search: %v", ids)
	}
}
