//go:build kitex

package peers

import "github.com/ringrpc/ringrpc/bench/internal/kitexpeer"

// Kitex links its network poller, pools and codecs into the process; only the
// build with the tag kitex has them.
func init() {
	for i := range All {
		if All[i].Name == KitexName {
			All[i].Serve, All[i].Dial = kitexpeer.Serve, dial(kitexpeer.Dial)
		}
	}
}
