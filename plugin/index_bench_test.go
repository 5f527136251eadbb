package plugin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// BenchmarkInvoiceStatusFromMemory is the plugin's own share of an
// invoicestatus answered from memory: parse, look up, marshal the reply.
func BenchmarkInvoiceStatusFromMemory(b *testing.B) {
	s := NewService(Config{Products: order.DefaultProducts()}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.index.setReady(true)
	unpaid, paid := order.NewID(), order.NewID()
	s.index.add(unpaid, payment{paymentType: "bolt11", label: unpaid.Label(), expiresAt: time.Now().Add(time.Hour)})
	s.index.add(paid, payment{paymentType: "bolt11", label: paid.Label(), expiresAt: time.Now().Add(time.Hour)})
	s.index.mu.Lock()
	s.index.byID[paid].inv.Status, s.index.byID[paid].inv.PaidAt = "paid", time.Now().Unix()
	s.index.mu.Unlock()
	s.states.learn(paid, workflows.State{InvoiceStatus: order.InvoicePaid, Deployment: &order.Deployment{Status: order.StartingDeployment,
		VMExpirationDate: order.FormatTime(time.Now().Add(3 * time.Hour)), Progress: &order.Progress{Step: "acquiring_host", NodeCount: 8}}}, 1)
	for _, c := range []struct {
		name string
		id   order.ID
	}{{"unpaid", unpaid}, {"paid", paid}} {
		params, _ := json.Marshal(map[string]any{"payment_type": "bolt11", "invoice_id": c.id})
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.InvoiceStatusJSON(context.Background(), params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
