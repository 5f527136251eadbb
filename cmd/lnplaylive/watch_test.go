package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lnplaylive/lnplaylive/order"
)

func TestProgressViewsForATerminalAndForALog(t *testing.T) {
	steps := []order.Progress{
		{Step: order.StepQueued, NodeCount: 8, Position: 2, EstimatedStart: "2026-12-01T15:00:00Z"},
		{Step: "waiting_for_nodes", NodesReady: 3, NodeCount: 8},
		{Step: "waiting_for_nodes", NodesReady: 3, NodeCount: 8}, // unchanged: no new line
		{Step: "opening_channels", NodesReady: 8, NodeCount: 8},
	}
	var log bytes.Buffer
	v := newProgressView(&log, false)
	for _, p := range steps {
		v.show(p)
	}
	v.finish()
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "step  1/17  queued: number 2 in line for capacity, expected at 2026-12-01T15:00:00Z") ||
		!strings.Contains(lines[1], "step 10/17  waiting_for_nodes (3/8 nodes)") || !strings.Contains(lines[2], "opening_channels (8/8 nodes)") {
		t.Fatalf("log view:\n%s", log.String())
	}
	if strings.Contains(log.String(), "\r") || strings.Contains(log.String(), "\x1b") {
		t.Fatal("the log view redraws like a terminal")
	}
	var tty bytes.Buffer
	v = newProgressView(&tty, true)
	for _, p := range steps {
		v.show(p)
	}
	out := tty.String()
	if !strings.Contains(out, "\r") || !strings.Contains(out, "opening_channels") || !strings.Contains(out, "13/17") {
		t.Fatalf("terminal view: %q", out)
	}
}
