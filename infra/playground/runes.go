package playground

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Restrictions are the rune restrictions of SPEC §6: read-mostly access
// plus invoices and payments, no datastore listing, 60 calls a minute.
var Restrictions = [][]string{
	{"method/listdatastore"},
	{"method^list", "method^get", "method=waitanyinvoice", "method=waitinvoice", "method=listpays",
		"method=invoice", "method^offer", "method=pay", "method=fetchinvoice", "method=createinvoice", "method~bkpr"},
	{"rate=60"},
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

// CheckRune decodes a rune (base64url of a 32-byte authcode followed by its
// restriction string, which starts with the unique id "=<n>") and checks
// the restrictions are exactly Restrictions.
func CheckRune(rune, uniqueID string) error {
	raw, err := base64.URLEncoding.DecodeString(rune)
	if err != nil || len(raw) <= 32 {
		return fmt.Errorf("%w: not a rune", ErrBadRune)
	}
	want := "=" + uniqueID + "&" + restrictionString(Restrictions)
	if string(raw[32:]) != want {
		return ErrBadRune
	}
	return nil
}

// ConnectionString is the Clams link of SPEC §6 for one node.
func ConnectionString(base, nodeID, address string, port int, rune string) string {
	return fmt.Sprintf("%s/connect?address=%s@%s:%d&type=direct&value=ws:&rune=%s",
		strings.TrimRight(base, "/"), nodeID, address, port, rune)
}
