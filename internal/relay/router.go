package relay

import (
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/switchyard/switchyard/internal/config"
)

// Router is the temporary channel selection: every (channel, credential)
// of an enabled channel serving a model, taken round robin. The pool package
// replaces it with priorities, weights, cooldowns and health.
type Router struct {
	byModel map[string]*modelTargets
}

type modelTargets struct {
	next    atomic.Uint64
	targets []*Target
}

// NewRouter indexes channels by the model names clients may ask for: the
// channel's models and the keys of its model_map. Each target's HTTP client
// is resolved here, once, from the credential's proxy or the channel's.
func NewRouter(channels []config.Channel, ts *Transports) (*Router, error) {
	rt := &Router{byModel: map[string]*modelTargets{}}
	for i := range channels {
		ch := &channels[i]
		if ch.Disabled {
			continue
		}
		var targets []*Target
		for j := range ch.Credentials {
			cred := &ch.Credentials[j]
			proxy := ch.Proxy
			if cred.Proxy != "" {
				proxy = cred.Proxy
			}
			c, err := ts.Client(proxy)
			if err != nil {
				return nil, fmt.Errorf("channel %s credential %d: %w", ch.Name, j, err)
			}
			targets = append(targets, &Target{Channel: ch, Cred: cred, CredIndex: j, client: c})
		}
		names := slices.Clone(ch.Models)
		for m := range ch.ModelMap {
			names = append(names, m)
		}
		slices.Sort(names)
		for _, m := range slices.Compact(names) {
			mt := rt.byModel[m]
			if mt == nil {
				mt = &modelTargets{}
				rt.byModel[m] = mt
			}
			mt.targets = append(mt.targets, targets...)
		}
	}
	return rt, nil
}

// Has reports whether some enabled channel serves model.
func (rt *Router) Has(model string) bool {
	mt := rt.byModel[model]
	return mt != nil && len(mt.targets) > 0
}

// Models lists the servable model names, sorted.
func (rt *Router) Models() []string {
	out := make([]string, 0, len(rt.byModel))
	for m, mt := range rt.byModel {
		if len(mt.targets) > 0 {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// Pick returns up to n distinct targets for model, in the order to try them,
// starting one further along the ring than the previous request.
func (rt *Router) Pick(model string, n int) []*Target {
	mt := rt.byModel[model]
	if mt == nil || len(mt.targets) == 0 {
		return nil
	}
	total := len(mt.targets)
	n = min(n, total)
	start := int((mt.next.Add(1) - 1) % uint64(total))
	out := make([]*Target, n)
	for i := range n {
		out[i] = mt.targets[(start+i)%total]
	}
	return out
}
