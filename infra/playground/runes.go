package playground

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ClamsMethods are the RPC methods Clams Remote calls on a Core Lightning
// node (its src/lib/wallets/coreln), by what the attendee is doing.
var ClamsMethods = map[string][]string{
	"sync": {"getinfo", "listfunds", "listtransactions", "bkpr-listaccountevents", "listinvoices",
		"listpays", "listclosedchannels", "listpeerchannels", "listnodes", "listforwards", "listoffers",
		"listinvoicerequests", "waitanyinvoice"},
	"receive":  {"invoice", "waitinvoice", "newaddr", "offer", "disableoffer", "invoicerequest", "disableinvoicerequest", "sendinvoice"},
	"send":     {"pay", "fetchinvoice", "keysend", "withdraw", "waitblockheight"},
	"channels": {"connect", "fundchannel", "close", "setchannel"},
	// Clams lists plugins (`plugin list`) to find clboss and prism; it
	// never needs to start or stop one.
	"other": {"signmessage", "plugin"},
}

// A RuneProfile is what a customer's rune lets them do (SPEC §6).
type RuneProfile struct {
	Name         string
	Restrictions [][]string
}

// PlaygroundProfile is the default: every method Clams uses and nothing
// else, with no rate limit (since CLN 23.11 rate=N means one call per
// 60/N seconds, and Clams's first sync sends a dozen at once). An
// allow-list, because CLN's rune language has no "does not start with":
// dev-*, plugin control, rune minting/listing/blacklisting, the datastore,
// setconfig and secret export are refused by not being on it. `plugin` is
// allowed only as `plugin list`, positional (as Clams sends it) or named.
var PlaygroundProfile = RuneProfile{Name: "playground", Restrictions: [][]string{
	methodAlternatives(),
	{"method/plugin", "parr0=list", "pnamesubcommand=list"},
}}

// SeedProfile is the original system's read-mostly rune, kept for
// operators who want it (LNPLAYLIVE_RUNE_PROFILE=seed). Clams cannot open
// channels or sync with it.
var SeedProfile = RuneProfile{Name: "seed", Restrictions: [][]string{
	{"method/listdatastore"},
	{"method^list", "method^get", "method=waitanyinvoice", "method=waitinvoice", "method=listpays",
		"method=invoice", "method^offer", "method=pay", "method=fetchinvoice", "method=createinvoice", "method~bkpr"},
	{"rate=60"},
}}

// RuneProfiles are the profiles by name.
var RuneProfiles = map[string]RuneProfile{PlaygroundProfile.Name: PlaygroundProfile, SeedProfile.Name: SeedProfile}

// DefaultRuneProfile is what the worker uses unless configured otherwise.
const DefaultRuneProfile = "playground"

func methodAlternatives() []string {
	var alts []string
	for _, group := range []string{"sync", "receive", "send", "channels", "other"} {
		for _, m := range ClamsMethods[group] {
			alts = append(alts, "method="+m)
		}
	}
	slices.Sort(alts)
	return alts
}

// restrictionString is how a rune encodes restrictions: alternatives joined
// by "|", restrictions by "&" (none of ours needs escaping).
func restrictionString(r [][]string) string {
	parts := make([]string, len(r))
	for i, alts := range r {
		parts[i] = strings.Join(alts, "|")
	}
	return strings.Join(parts, "&")
}

// ErrBadRune: a rune that does not carry exactly our restrictions. Its
// message never contains the rune.
var ErrBadRune = errors.New("rune does not carry the required restrictions")

// Check decodes a rune (base64url of a 32-byte authcode followed by its
// restriction string, which starts with the unique id "=<n>") and checks
// that its restrictions are exactly the profile's.
func (p RuneProfile) Check(rune, uniqueID string) error {
	raw, err := base64.URLEncoding.DecodeString(rune)
	if err != nil || len(raw) <= 32 {
		return fmt.Errorf("%w: not a rune", ErrBadRune)
	}
	if string(raw[32:]) != "="+uniqueID+"&"+restrictionString(p.Restrictions) {
		return fmt.Errorf("%w of profile %s", ErrBadRune, p.Name)
	}
	return nil
}
