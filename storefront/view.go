package storefront

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lnplaylive/lnplaylive/order"
)

// status is invoicestatus's reply, its deployment_details read.
type status = order.StatusReply

// The states an order page shows, one template section each.
const (
	stateUnpaid         = "unpaid"
	stateInvoiceExpired = "invoice-expired"
	stateQueued         = "queued"
	stateDeploying      = "deploying"
	stateFailed         = "failed"
	stateProvisioned    = "provisioned"
	stateEnded          = "ended"
)

// pageState is which of those an order is in.
func pageState(s status) string {
	switch {
	case s.InvoiceStatus == order.InvoiceExpired:
		return stateInvoiceExpired
	}
	d := s.Deployment()
	if s.InvoiceStatus != order.InvoicePaid || d == nil {
		return stateUnpaid
	}
	switch d.Status {
	case order.Provisioned:
		return stateProvisioned
	case order.Failed:
		return stateFailed
	case order.Expired:
		return stateEnded
	}
	if p := d.Progress; p != nil && p.Step == order.StepQueued {
		return stateQueued
	}
	return stateDeploying
}

// stepWords says each progress step to a buyer.
var stepWords = map[string]string{
	order.StepQueued:         "Waiting in line for a machine",
	"acquiring_host":         "Getting a machine",
	"bootstrapping":          "Preparing the machine",
	"connecting":             "Connecting to the machine",
	"waiting_for_ssh":        "Waiting for the machine to boot",
	"waiting_for_cloud_init": "Installing Docker on the machine",
	"uploading":              "Uploading the playground",
	"starting_containers":    "Starting bitcoind and the nodes",
	"waiting_for_bitcoind":   "Waiting for bitcoind",
	"waiting_for_nodes":      "Waiting for the Lightning nodes",
	"funding_nodes":          "Funding the nodes",
	"connecting_nodes":       "Connecting the nodes to each other",
	"opening_channels":       "Opening channels",
	"confirming_channels":    "Confirming the channels",
	"checking_routes":        "Checking that payments get through",
	"done":                   "Finishing",
	"creating_runes":         "Making each node's access key",
}

// stepText is a progress step in words; an unknown step (a newer plugin)
// is shown as it comes.
func stepText(step string) string {
	if w, ok := stepWords[step]; ok {
		return w
	}
	if step == "" {
		return "Starting"
	}
	return strings.ReplaceAll(step, "_", " ")
}

// sats renders msat as sats with thousands separators.
func sats(msat uint64) string {
	s := groupDigits(strconv.FormatUint(msat/1000, 10))
	if r := msat % 1000; r != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%03d", r), "0")
	}
	return s + " sats"
}

func groupDigits(d string) string {
	var b strings.Builder
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// utc renders a time for people: the day, the time and "UTC". The page's
// script adds the reader's own time zone beside it.
func utc(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006, 15:04 UTC") }

// parseTime reads the API's RFC 3339 times; zero when absent or bad.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// hoursText says a number of hours, in days where it divides.
func hoursText(h int) string {
	switch {
	case h == 1:
		return "1 hour"
	case h%24 == 0 && h >= 48:
		return fmt.Sprintf("%d hours (%d days)", h, h/24)
	}
	return fmt.Sprintf("%d hours", h)
}
