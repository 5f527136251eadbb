package workflows

import (
	"context"
	"fmt"
	"log/slog"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// SearchAttributes the order workflow keeps current, with their types:
// the keys in api.go, as a namespace registers them.
var SearchAttributes = func() map[string]enumspb.IndexedValueType {
	m := map[string]enumspb.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKey{AttrOrderStatus, AttrNodeCount, AttrHours, AttrPaidAt, AttrExpiresAt, AttrOrderSource} {
		m[k.GetName()] = k.GetValueType()
	}
	return m
}()

// EnsureSearchAttributes registers whichever of SearchAttributes the
// namespace lacks, so a fresh server (compose stack, self-hosted) works
// without a manual `temporal operator search-attribute create`.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, log *slog.Logger) error {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range SearchAttributes {
		got, ok := have.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			return fmt.Errorf("search attribute %s is a %s, want %s", name, got, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	}); err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	log.Info("search attributes registered", "count", len(missing))
	return nil
}
