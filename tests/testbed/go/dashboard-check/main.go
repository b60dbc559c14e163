// dashboard-check reads Grafana dashboard JSON files and checks each against the dashboard
// schema as grafana-foundation-sdk generates it from Grafana's own schema: strict decoding (an
// unknown or mistyped field fails; panel options and field configs are decoded by their panel
// plugin's types) and the schema's constraints (Validate). Grafana itself is AGPL and cannot be
// run here; this is the schema it loads dashboards by.
//
//	dashboard-check FILE...    one line per file; exit status 1 if any fails
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// failure is err unless it is an empty cog.BuildErrors: the SDK's decoders return their error
// list as an error even when it is empty (a typed nil, not nil).
func failure(err error) error {
	var list cog.BuildErrors
	if errors.As(err, &list) && len(list) == 0 {
		return nil
	}
	return err
}

func check(path string) (int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var board dashboard.Dashboard
	if err := failure(board.UnmarshalJSONStrict(raw)); err != nil {
		return 0, fmt.Errorf("does not decode: %w", err)
	}
	if err := failure(board.Validate()); err != nil {
		return 0, fmt.Errorf("invalid: %w", err)
	}
	return len(board.Panels), nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dashboard-check FILE...")
		os.Exit(2)
	}
	plugins.RegisterDefaultPlugins()
	failed := false
	for _, path := range os.Args[1:] {
		panels, err := check(path)
		if err != nil {
			fmt.Printf("%s: %v\n", path, err)
			failed = true
			continue
		}
		fmt.Printf("%s: ok, %d panels\n", path, panels)
	}
	if failed {
		os.Exit(1)
	}
}
