// Package order is the lnplaylive domain without I/O: products and prices, order
// ids, the parameters of the two plugin methods and the status shapes of
// ../shared/SPEC.md. The plugin, the workflows and the tools all speak it.
package order

import (
	"errors"
	"strings"

	"github.com/google/uuid"
)

// LabelPrefix starts every invoice label and every workflow id of an order.
const LabelPrefix = "lnplaylive-"

// ID is an order's identity: a lower-case uuid v4. The invoice label and the
// workflow id are both derived from it, so either leads back to the order.
type ID string

// ErrNoSuchOrder is returned for ids that cannot belong to any order.
var ErrNoSuchOrder = errors.New("no such order")

// NewID makes a fresh random order id.
func NewID() ID { return ID(uuid.NewString()) }

// ParseID accepts a bare uuid or one carrying the `lnplaylive-` prefix, and
// returns the bare, lower-case id. Anything else is ErrNoSuchOrder: callers
// must not be able to tell "malformed" from "unknown".
func ParseID(s string) (ID, error) {
	s = strings.TrimPrefix(s, LabelPrefix)
	// uuid.Parse also accepts urn: and braced forms; an order id is only ever
	// the canonical 36-character form.
	if len(s) != 36 {
		return "", ErrNoSuchOrder
	}
	u, err := uuid.Parse(s)
	if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 {
		return "", ErrNoSuchOrder
	}
	return ID(u.String()), nil
}

// IDFromLabel returns the order id of an lnplaylive invoice label, and false
// for any other label (the node may have invoices of its own).
func IDFromLabel(label string) (ID, bool) {
	if !strings.HasPrefix(label, LabelPrefix) {
		return "", false
	}
	id, err := ParseID(label)
	if err != nil || string(id) != label[len(LabelPrefix):] {
		return "", false
	}
	return id, true
}

// Label is the order's BOLT11 invoice label in lightningd.
func (id ID) Label() string { return LabelPrefix + string(id) }

// WorkflowID is the id of the order's Temporal workflow.
func (id ID) WorkflowID() string { return LabelPrefix + string(id) }

func (id ID) String() string { return string(id) }

// WarmPrefix starts the id of a warm-pool playground: "warm-<uuid>". Its
// machine is labelled with that id until it is destroyed, whichever order
// claims it.
const WarmPrefix = "warm-"

// NewWarmID makes a fresh warm playground id.
func NewWarmID() string { return WarmPrefix + uuid.NewString() }

// ValidMachineID tells whether s names what a machine may be labelled
// with: an order id, or a warm playground's id, in canonical form. Only
// such ids reach a remote shell.
func ValidMachineID(s string) bool {
	id, err := ParseID(strings.TrimPrefix(s, WarmPrefix))
	return err == nil && (id.String() == s || WarmPrefix+id.String() == s)
}
