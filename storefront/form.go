package storefront

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/lnplaylive/lnplaylive/order"
)

// maxFormBytes bounds a form's body: the largest real one is under 200
// bytes.
const maxFormBytes = 4 << 10

// buyForm is the order form, read and checked against what is on sale
// before the node is asked: a bad request is refused here, in words,
// and creates nothing.
type buyForm struct {
	NodeCount   int
	Hours       int
	Topology    order.Topology
	PaymentType string
}

// formError is a refusal of one field, shown next to the form.
type formError struct {
	Field, Message string
}

func (e *formError) Error() string { return e.Field + ": " + e.Message }

// parseBuyForm reads the form. Missing fields take the defaults of the
// page (the smallest size, the fewest hours), so a bare GET of / shows a
// priced order; a field that is present must be valid.
func parseBuyForm(v url.Values, cat order.ProductsReply) (buyForm, error) {
	f := buyForm{Hours: cat.MinHours, Topology: cat.DefaultTopology, PaymentType: order.PaymentTypeBolt11}
	if len(cat.Sizes) > 0 {
		f.NodeCount = cat.Sizes[0].NodeCount
	}
	if s, ok := single(v, "node_count"); ok {
		n, err := strconv.Atoi(s)
		sizes := make([]string, len(cat.Sizes))
		valid := false
		for i, sz := range cat.Sizes {
			sizes[i] = strconv.Itoa(sz.NodeCount)
			valid = valid || (err == nil && n == sz.NodeCount)
		}
		if !valid {
			return f, &formError{"node_count", fmt.Sprintf("choose one of the sizes on sale: %s nodes", strings.Join(sizes, ", "))}
		}
		f.NodeCount = n
	}
	if s, ok := single(v, "hours"); ok {
		h, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || h < cat.MinHours || h > cat.MaxHours {
			return f, &formError{"hours", fmt.Sprintf("enter a whole number of hours from %d to %d", cat.MinHours, cat.MaxHours)}
		}
		f.Hours = h
	}
	if s, ok := single(v, "topology"); ok {
		if !slices.Contains(cat.Topologies, order.Topology(s)) {
			return f, &formError{"topology", "choose one of the channel layouts listed"}
		}
		f.Topology = order.Topology(s)
	}
	if s, ok := single(v, "payment_type"); ok {
		if !slices.Contains(cat.PaymentTypes, s) {
			return f, &formError{"payment_type", "choose one of the ways to pay listed"}
		}
		f.PaymentType = s
	}
	for k, vs := range v {
		if len(vs) > 1 {
			return f, &formError{k, "given more than once"}
		}
	}
	return f, nil
}

// parseExtendForm reads the extend form: hours and the payment type.
func parseExtendForm(v url.Values, cat order.ProductsReply) (int, string, error) {
	s, ok := single(v, "hours")
	h, err := strconv.Atoi(strings.TrimSpace(s))
	if !ok || err != nil || h < 1 || h > cat.MaxHours {
		return 0, "", &formError{"hours", fmt.Sprintf("enter a whole number of hours from 1 to %d", cat.MaxHours)}
	}
	pt := order.PaymentTypeBolt11
	if s, ok := single(v, "payment_type"); ok {
		if !slices.Contains(cat.PaymentTypes, s) {
			return 0, "", &formError{"payment_type", "choose one of the ways to pay listed"}
		}
		pt = s
	}
	return h, pt, nil
}

// single is a field's value when it is present and non-empty.
func single(v url.Values, key string) (string, bool) {
	vs := v[key]
	if len(vs) == 0 || vs[0] == "" {
		return "", false
	}
	return vs[0], true
}

// priceMsat is what the form's order costs.
func (f buyForm) priceMsat(cat order.ProductsReply) uint64 {
	return cat.Products().PriceMsat(order.Request{NodeCount: f.NodeCount, Hours: f.Hours})
}

// query is the form as a query string, for links that keep its choices.
func (f buyForm) query(hours int) string {
	return url.Values{"node_count": {strconv.Itoa(f.NodeCount)}, "hours": {strconv.Itoa(hours)},
		"topology": {string(f.Topology)}, "payment_type": {f.PaymentType}}.Encode()
}
