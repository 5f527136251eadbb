package bolt11

import (
	"bytes"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Made by a real lightningd for `lnplaylive-createorder node_count=8 hours=48`
// (the original plugin's README). Decoding it checks this decoder against CLN
// rather than against our own encoder.
const realCLNInvoice = "lnbcrt768u1pj0v6v8sp59u36emrmm4g8yspg6a584yagwwyuzmjjgvfsefruan457xrl9mmspp53ms372dg6lnxyr0jal2hla8ljwhcrck3lej9gngerjjxpts6ehqqdpcd3h8qmrp0yhxc6tkv5sz6gpcyphx7er9wvsxvmmjyq6rsgrgda6hyuewxqzfvcqp29qxpqysgqc8tw7v0ddjn9kctg9xsx9925yl2fnwzstrylle8yhpq3fccwjlxz57rf6tyx627f3u54pkec4em6vnjekf4ayngcr6uylt24xlstkesp4407tz"

func TestDecodesARealLightningdInvoice(t *testing.T) {
	inv, err := Decode(realCLNInvoice)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Network != "bcrt" || inv.AmountMsat != 76_800_000 {
		t.Fatalf("network %q amount %d", inv.Network, inv.AmountMsat)
	}
	if inv.Description != "lnplay.live - 8 nodes for 48 hours." {
		t.Fatalf("description %q", inv.Description)
	}
	if inv.Expiry != 300*time.Second {
		t.Fatalf("expiry %s", inv.Expiry)
	}
	if inv.Payee == nil {
		t.Fatal("no payee recovered")
	}
}

func TestEncodeRoundTripsAndIsSignedByTheNode(t *testing.T) {
	key, _ := btcec.NewPrivateKey()
	want := Invoice{
		Network: "bcrt", AmountMsat: 76_800_000, Timestamp: time.Unix(1_764_000_000, 0).UTC(),
		Description: "lnplay.live - 8 nodes for 48 hours.", Expiry: 300 * time.Second, MinFinalCLTV: 18,
	}
	want.PaymentHash[0], want.PaymentSecret[31] = 0xaa, 0x55
	for _, amount := range []uint64{76_800_000, 1, 1234, 100_000_000} {
		want.AmountMsat = amount
		s, err := Encode(want, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(s)
		if err != nil {
			t.Fatalf("%d: %v", amount, err)
		}
		if got.AmountMsat != amount || got.Description != want.Description || got.Expiry != want.Expiry ||
			got.PaymentHash != want.PaymentHash || got.PaymentSecret != want.PaymentSecret ||
			!got.Timestamp.Equal(want.Timestamp) || got.MinFinalCLTV != 18 {
			t.Fatalf("round trip: got %+v want %+v", got, want)
		}
		if !bytes.Equal(got.Payee.SerializeCompressed(), key.PubKey().SerializeCompressed()) {
			t.Fatal("recovered payee is not the signer")
		}
	}
	s, _ := Encode(want, key)
	if _, err := Decode(s[:len(s)-8] + "qqqqqqqq"); err == nil {
		t.Fatal("a tampered invoice decoded")
	}
}
