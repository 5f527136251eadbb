package workflows

import (
	"context"
	"log/slog"
	"testing"

	"go.temporal.io/api/operatorservice/v1"

	"github.com/lnplaylive/lnplaylive/internal/testworld/devserver"
)

func TestSearchAttributesAreRegisteredOnAFreshNamespace(t *testing.T) {
	srv := devserver.Start(t, devserver.Bare)
	c := srv.Client(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	for i := 0; i < 2; i++ { // the second run finds them and changes nothing
		if err := EnsureSearchAttributes(ctx, c, "default", log); err != nil {
			t.Fatal(err)
		}
	}
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if len(SearchAttributes) != 6 {
		t.Fatalf("%d search attributes, want the six the order workflow keeps", len(SearchAttributes))
	}
	for name, typ := range SearchAttributes {
		if have.GetCustomAttributes()[name] != typ {
			t.Errorf("%s: %s, want %s", name, have.GetCustomAttributes()[name], typ)
		}
	}
}
