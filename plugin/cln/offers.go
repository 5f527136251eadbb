package cln

import (
	"context"
	"fmt"
)

// OfferRequest is the `offer` command's params (schemas/offer.json) as
// lnplaylive uses them: a fixed amount, single use, with an absolute expiry.
type OfferRequest struct {
	AmountMsat  uint64 `json:"-"`
	Amount      string `json:"amount"`
	Description string `json:"description"`
	Issuer      string `json:"issuer,omitempty"`
	Label       string `json:"label"`
	// AbsoluteExpiry is in seconds since 1970.
	AbsoluteExpiry int64 `json:"absolute_expiry"`
	SingleUse      bool  `json:"single_use"`
}

// Offer is the `offer` result, and one entry of listoffers.
type Offer struct {
	OfferID   string `json:"offer_id"`
	Active    bool   `json:"active"`
	SingleUse bool   `json:"single_use"`
	Bolt12    string `json:"bolt12"`
	Used      bool   `json:"used"`
	Label     string `json:"label,omitempty"`
	// Created is false when lightningd returned an existing identical
	// offer instead of making one (offer only).
	Created bool `json:"created"`
}

// CreateOffer calls `offer`. An offer lightningd already had is refused:
// it belongs to someone else's label.
func (c *Client) CreateOffer(ctx context.Context, req OfferRequest) (Offer, error) {
	req.Amount = fmt.Sprintf("%dmsat", req.AmountMsat)
	var o Offer
	if err := c.Call(ctx, "offer", req, &o); err != nil {
		return Offer{}, err
	}
	if !o.Created || o.Label != req.Label {
		return Offer{}, fmt.Errorf("offer: lightningd returned an existing offer %s (label %q), not a new one for %q", o.OfferID, o.Label, req.Label)
	}
	return o, nil
}

// OfferByID calls `listoffers offer_id=…`; found is false for an unknown id.
func (c *Client) OfferByID(ctx context.Context, offerID string) (o Offer, found bool, err error) {
	var res struct {
		Offers []Offer `json:"offers"`
	}
	if err := c.Call(ctx, "listoffers", map[string]any{"offer_id": offerID}, &res); err != nil {
		return Offer{}, false, err
	}
	for _, o := range res.Offers {
		if o.OfferID == offerID {
			return o, true, nil
		}
	}
	return Offer{}, false, nil
}

// DisableOffer calls `disableoffer`: no further invoices are issued for it.
func (c *Client) DisableOffer(ctx context.Context, offerID string) error {
	return c.Call(ctx, "disableoffer", map[string]any{"offer_id": offerID}, nil)
}

// InvoicesByOffer calls `listinvoices offer_id=…`: the invoices payers
// fetched from one of our offers.
func (c *Client) InvoicesByOffer(ctx context.Context, offerID string) ([]Invoice, error) {
	var res struct {
		Invoices []Invoice `json:"invoices"`
	}
	err := c.Call(ctx, "listinvoices", map[string]any{"offer_id": offerID}, &res)
	return res.Invoices, err
}

// ListStrings calls `listdatastore key=…` and returns the string entries
// directly under it, by their last key part.
func (c *Client) ListStrings(ctx context.Context, key []string) (map[string]string, error) {
	var res struct {
		Datastore []DatastoreEntry `json:"datastore"`
	}
	if err := c.Call(ctx, "listdatastore", map[string]any{"key": key}, &res); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range res.Datastore {
		if len(e.Key) == len(key)+1 && equalKeys(e.Key[:len(key)], key) && e.String != nil {
			out[e.Key[len(key)]] = *e.String
		}
	}
	return out, nil
}

// DecodedOffer is what `decode` says of a BOLT12 offer (schemas/decode.json).
type DecodedOffer struct {
	Valid          bool   `json:"valid"`
	AmountMsat     uint64 `json:"offer_amount_msat"`
	Description    string `json:"offer_description"`
	AbsoluteExpiry int64  `json:"offer_absolute_expiry"`
}

// DecodeOffer calls `decode` on a bolt12 offer string.
func (c *Client) DecodeOffer(ctx context.Context, bolt12 string) (DecodedOffer, error) {
	var d DecodedOffer
	if err := c.Call(ctx, "decode", map[string]any{"string": bolt12}, &d); err != nil {
		return DecodedOffer{}, err
	}
	if !d.Valid {
		return DecodedOffer{}, fmt.Errorf("decode: lightningd says offer %.24s… is not valid", bolt12)
	}
	return d, nil
}
