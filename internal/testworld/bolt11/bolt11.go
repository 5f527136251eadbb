// Package bolt11 encodes and decodes BOLT11 payment requests. The lightningd
// stand-in issues real invoices with it, and tests decode them with it, after
// the decoder has been checked against an invoice made by a real lightningd.
package bolt11

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/bech32"
)

// Invoice is the part of a payment request this project cares about.
type Invoice struct {
	Network       string // "bcrt" for regtest
	AmountMsat    uint64
	Timestamp     time.Time
	PaymentHash   [32]byte
	PaymentSecret [32]byte
	Description   string
	Expiry        time.Duration // 0 means BOLT11's default of one hour
	MinFinalCLTV  uint64
	// Payee is the signer, recovered from the signature on decode.
	Payee *btcec.PublicKey
}

const (
	tagPaymentHash   = 1
	tagPaymentSecret = 16
	tagDescription   = 13
	tagExpiry        = 6
	tagMinFinalCLTV  = 24
	tagFeatures      = 5
	tagPayee         = 19
)

// Encode signs inv with key.
func Encode(inv Invoice, key *btcec.PrivateKey) (string, error) {
	hrp := "ln" + inv.Network + encodeAmount(inv.AmountMsat)
	data := uintGroups(uint64(inv.Timestamp.Unix()), 7)
	data = appendTag(data, tagPaymentHash, bytesToGroups(inv.PaymentHash[:]))
	data = appendTag(data, tagPaymentSecret, bytesToGroups(inv.PaymentSecret[:]))
	data = appendTag(data, tagDescription, bytesToGroups([]byte(inv.Description)))
	if inv.Expiry > 0 {
		data = appendTag(data, tagExpiry, minimalGroups(uint64(inv.Expiry/time.Second)))
	}
	if inv.MinFinalCLTV > 0 {
		data = appendTag(data, tagMinFinalCLTV, minimalGroups(inv.MinFinalCLTV))
	}
	// var_onion_optin (8), payment_secret (14) required; basic_mpp (17) optional.
	data = appendTag(data, tagFeatures, featureGroups(8, 14, 17))

	digest := sigHash(hrp, data)
	compact := ecdsa.SignCompact(key, digest[:], true)
	// SignCompact gives header||r||s; BOLT11 wants r||s||recovery id.
	sig := append(append([]byte{}, compact[1:]...), compact[0]-27-4)
	data = append(data, bytesToGroups(sig)...)
	return bech32.Encode(hrp, data)
}

// Decode parses and verifies a payment request.
func Decode(s string) (Invoice, error) {
	var inv Invoice
	hrp, data, err := bech32.DecodeNoLimit(strings.ToLower(s))
	if err != nil {
		return inv, fmt.Errorf("bolt11: %w", err)
	}
	if !strings.HasPrefix(hrp, "ln") {
		return inv, errors.New("bolt11: prefix is not ln")
	}
	inv.Network, inv.AmountMsat, err = parseHRP(hrp[2:])
	if err != nil {
		return inv, err
	}
	if len(data) < 7+104 {
		return inv, errors.New("bolt11: too short")
	}
	sigGroups := data[len(data)-104:]
	body := data[:len(data)-104]
	inv.Timestamp = time.Unix(int64(groupsToUint(body[:7])), 0).UTC()
	seen := map[byte]bool{}
	for rest := body[7:]; len(rest) > 0; {
		if len(rest) < 3 {
			return inv, errors.New("bolt11: truncated tagged field")
		}
		tag, n := rest[0], int(rest[1])<<5|int(rest[2])
		if len(rest) < 3+n {
			return inv, errors.New("bolt11: truncated tagged field")
		}
		field := rest[3 : 3+n]
		rest = rest[3+n:]
		switch tag {
		case tagPaymentHash, tagPaymentSecret:
			if n != 52 || seen[tag] {
				continue // BOLT11: skip fields of the wrong length
			}
			b, err := groupsToBytes(field, false)
			if err != nil || len(b) != 32 {
				return inv, errors.New("bolt11: bad hash field")
			}
			if tag == tagPaymentHash {
				copy(inv.PaymentHash[:], b)
			} else {
				copy(inv.PaymentSecret[:], b)
			}
		case tagDescription:
			b, err := groupsToBytes(field, false)
			if err != nil {
				return inv, fmt.Errorf("bolt11: description: %w", err)
			}
			inv.Description = string(b)
		case tagExpiry:
			inv.Expiry = time.Duration(groupsToUint(field)) * time.Second
		case tagMinFinalCLTV:
			inv.MinFinalCLTV = groupsToUint(field)
		case tagPayee:
			b, err := groupsToBytes(field, false)
			if err != nil {
				return inv, err
			}
			if inv.Payee, err = btcec.ParsePubKey(b); err != nil {
				return inv, fmt.Errorf("bolt11: payee: %w", err)
			}
		}
		seen[tag] = true
	}
	if !seen[tagPaymentHash] {
		return inv, errors.New("bolt11: no payment hash")
	}
	sig, err := groupsToBytes(sigGroups, false)
	if err != nil || len(sig) != 65 {
		return inv, errors.New("bolt11: bad signature field")
	}
	digest := sigHash(hrp, body)
	compact := append([]byte{27 + 4 + sig[64]}, sig[:64]...)
	pub, _, err := ecdsa.RecoverCompact(compact, digest[:])
	if err != nil {
		return inv, fmt.Errorf("bolt11: signature: %w", err)
	}
	if inv.Payee != nil && !inv.Payee.IsEqual(pub) {
		return inv, errors.New("bolt11: signature does not match the payee")
	}
	inv.Payee = pub
	return inv, nil
}

func sigHash(hrp string, data []byte) [32]byte {
	b, _ := groupsToBytes(data, true)
	return sha256.Sum256(append([]byte(hrp), b...))
}

// Amount multipliers in msat per unit.
var multipliers = []struct {
	suffix string
	msat   uint64 // msat per unit; p is a tenth of an msat
}{{"m", 100_000_000}, {"u", 100_000}, {"n", 100}}

func encodeAmount(msat uint64) string {
	if msat == 0 {
		return ""
	}
	for _, m := range multipliers {
		if msat%m.msat == 0 {
			return strconv.FormatUint(msat/m.msat, 10) + m.suffix
		}
	}
	return strconv.FormatUint(msat*10, 10) + "p"
}

func parseHRP(s string) (network string, msat uint64, err error) {
	i := strings.IndexAny(s, "0123456789")
	if i < 0 {
		return s, 0, nil
	}
	network, amount := s[:i], s[i:]
	mult := amount[len(amount)-1]
	digits := amount[:len(amount)-1]
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("bolt11: amount %q: %w", amount, err)
	}
	switch mult {
	case 'm':
		return network, n * 100_000_000, nil
	case 'u':
		return network, n * 100_000, nil
	case 'n':
		return network, n * 100, nil
	case 'p':
		if n%10 != 0 {
			return "", 0, fmt.Errorf("bolt11: amount %q is not whole msat", amount)
		}
		return network, n / 10, nil
	}
	return "", 0, fmt.Errorf("bolt11: amount %q has no multiplier", amount)
}

func appendTag(data []byte, tag byte, field []byte) []byte {
	return append(append(data, tag, byte(len(field)>>5), byte(len(field)&31)), field...)
}

func uintGroups(v uint64, n int) []byte {
	out := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		out[i] = byte(v & 31)
		v >>= 5
	}
	return out
}

func minimalGroups(v uint64) []byte {
	n := 1
	for x := v >> 5; x > 0; x >>= 5 {
		n++
	}
	return uintGroups(v, n)
}

func featureGroups(bits ...int) []byte {
	top := 0
	for _, b := range bits {
		top = max(top, b)
	}
	out := make([]byte, top/5+1)
	for _, b := range bits {
		out[len(out)-1-b/5] |= 1 << (b % 5)
	}
	return out
}

func groupsToUint(g []byte) uint64 {
	var v uint64
	for _, x := range g {
		v = v<<5 | uint64(x)
	}
	return v
}

func bytesToGroups(b []byte) []byte {
	g, _ := bech32.ConvertBits(b, 8, 5, true)
	return g
}

func groupsToBytes(g []byte, pad bool) ([]byte, error) {
	return bech32.ConvertBits(g, 5, 8, pad)
}
