package worker

import (
	"context"
	"fmt"
	"log/slog"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
)

// SearchAttributes the order workflow keeps current, with their types.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	"OrderStatus": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"NodeCount":   enumspb.INDEXED_VALUE_TYPE_INT,
	"Hours":       enumspb.INDEXED_VALUE_TYPE_INT,
	"PaidAt":      enumspb.INDEXED_VALUE_TYPE_DATETIME,
	"ExpiresAt":   enumspb.INDEXED_VALUE_TYPE_DATETIME,
	"OrderSource": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
}

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
