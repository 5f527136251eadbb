package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/testworld/realcln"
	"github.com/lnplaylive/lnplaylive/internal/testworld/testbin"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
)

// benchRealCLN measures invoicestatus with the plugin inside a real
// lightningd v25.12.1 (../shared/cln), on the system's Temporal and worker:
// 1,000 orders created through it, 100 of them paid over a real channel
// from a second real node, polled open-loop at rate, against bare
// listinvoices label=… through the same lightningd at the same rate and
// load, just before.
func benchRealCLN(t *testing.T, s *system, rate, seconds int) []string {
	t.Helper()
	pluginBin, err := testbin.Path("lnplaylive-plugin")
	if err != nil {
		t.Fatal(err)
	}
	a := realcln.Start(t, "--developer", "--dev-bitcoind-poll=1", "--plugin="+pluginBin,
		"--lnplaylive-temporal-address="+s.addr, "--lnplaylive-task-queue="+s.taskQueue,
		"--lnplaylive-codec-keys-file="+s.codecKeys, "--lnplaylive-invoice-expiry=7200",
		"--lnplaylive-max-live-orders=20000", "--lnplaylive-status-cache-ms=1000")
	b := realPayer(t, a)

	ctx := context.Background()
	rpc, err := cln.Dial(ctx, filepath.Join(a.Dir, "regtest", "lightning-rpc"), "bench-real")
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	ids := make([]string, 1000)
	invoices := make([]string, len(ids))
	run(t, len(ids), 20, func(i int) error {
		var r order.CreateReply
		if err := rpc.Call(ctx, "lnplaylive-createorder", map[string]any{"node_count": 8, "hours": 3}, &r); err != nil {
			return err
		}
		ids[i], invoices[i] = string(r.BOLT11InvoiceID), r.BOLT11Invoice
		return nil
	})
	for i := range 100 {
		if _, err := b.Call("pay", "bolt11="+invoices[i]); err != nil {
			t.Fatalf("real payment %d: %v", i, err)
		}
	}
	status := func(id string) (json.RawMessage, error) {
		var st json.RawMessage
		err := rpc.Call(ctx, "lnplaylive-invoicestatus", map[string]any{"payment_type": "bolt11", "invoice_id": id}, &st)
		return st, err
	}
	for _, id := range ids[:100] {
		waitReal(t, "order "+id+" deploying", func() bool {
			st, err := status(id)
			return err == nil && json.Valid(st) && contains(st, `"acquiring_host"`)
		})
	}
	time.Sleep(5 * time.Second)
	for _, id := range ids {
		if _, err := status(id); err != nil {
			t.Fatal(err)
		}
	}
	var list, nops, polls lat
	var wall time.Duration
	for range 3 {
		l, _ := openLoop(t, rate, seconds/3, func(i int) (time.Duration, error) {
			s0 := time.Now()
			_, _, err := rpc.InvoiceByLabel(ctx, "lnplaylive-"+ids[i%len(ids)])
			return time.Since(s0), err
		})
		list = append(list, l...)
		l, _ = openLoop(t, rate, seconds/3, func(i int) (time.Duration, error) {
			s0 := time.Now()
			err := rpc.Call(ctx, "lnplaylive-noop", map[string]any{"payment_type": "bolt11", "invoice_id": ids[i%len(ids)]}, nil)
			return time.Since(s0), err
		})
		nops = append(nops, l...)
		l, w := openLoop(t, rate, seconds/3, func(i int) (time.Duration, error) {
			s0 := time.Now()
			_, err := status(ids[i%len(ids)])
			return time.Since(s0), err
		})
		polls, wall = append(polls, l...), wall+w
	}
	return []string{"invoicestatus on a real lightningd v25.12.1, 1,000 orders at 2,000/s (10 % paid over a real channel)",
		ms(polls.pct(.5)), ms(polls.pct(.99)), ms(polls.pct(1)), fmt.Sprintf("%.0f/s", float64(len(polls))/wall.Seconds()),
		fmt.Sprintf("from memory: p50 %.2f×, p99 %.2f× the no-op method through the same lightningd (p50 %s, p99 %s); p50 %.2f×, p99 %.2f× bare listinvoices (p50 %s, p99 %s)",
			ratio(polls, nops, .5), ratio(polls, nops, .99), ms(nops.pct(.5)), ms(nops.pct(.99)),
			ratio(polls, list, .5), ratio(polls, list, .99), ms(list.pct(.5)), ms(list.pct(.99))),
		"p50, p99 ≤ 1.2× no-op and ≤ 1× listinvoices"}
}

// realPayer starts a second real node on seller's chain, funded, with a
// confirmed 5,000,000 sat channel to seller: a customer's wallet.
func realPayer(t *testing.T, seller *realcln.Node) *realcln.Node {
	t.Helper()
	b := realcln.StartOn(t, seller.Chain, "--developer", "--dev-bitcoind-poll=1")
	var addr struct {
		Bech32 string `json:"bech32"`
	}
	if err := b.Get(&addr, "newaddr", "addresstype=bech32"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Bitcoin("faucet", addr.Bech32, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Bitcoin("generatetoaddress", "1"); err != nil {
		t.Fatal(err)
	}
	waitReal(t, "the payer's funds", func() bool {
		var f struct {
			Outputs []struct {
				Status string `json:"status"`
			} `json:"outputs"`
		}
		return b.Get(&f, "listfunds") == nil && len(f.Outputs) > 0 && f.Outputs[0].Status == "confirmed"
	})
	// The seller must have seen a block before it accepts a channel: at
	// height 0 lightningd v25.12.1 aborts saving it (wallet_channel_save:
	// "Assertion `chan->first_blocknum' failed"), which once looked like a
	// flaky "Owning subdaemon openingd died" on the payer's side.
	waitReal(t, "the seller at the payer's block height", func() bool {
		var mine, its struct {
			BlockHeight int `json:"blockheight"`
		}
		return b.Get(&mine, "getinfo") == nil && seller.Get(&its, "getinfo") == nil && its.BlockHeight >= mine.BlockHeight && its.BlockHeight > 0
	})
	if _, err := b.Call("connect", fmt.Sprintf("id=%s@127.0.0.1:%d", seller.ID(t), seller.Port)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Call("fundchannel", "id="+seller.ID(t), "amount=5000000"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Bitcoin("generatetoaddress", "6"); err != nil {
		t.Fatal(err)
	}
	waitReal(t, "the channel", func() bool {
		var pc struct {
			Channels []struct {
				State string `json:"state"`
			} `json:"channels"`
		}
		return b.Get(&pc, "listpeerchannels") == nil && len(pc.Channels) == 1 && pc.Channels[0].State == "CHANNELD_NORMAL"
	})
	return b
}

func contains(b []byte, sub string) bool { return strings.Contains(string(b), sub) }

func waitReal(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); !ok(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("real lightningd: %s not reached in 90 s", what)
		}
	}
}
