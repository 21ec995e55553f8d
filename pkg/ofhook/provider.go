package ofhook

import (
	"github.com/open-feature/go-sdk/openfeature"
)

// WithTracking returns p with t as its tracker: evaluation, metadata, hooks,
// initialization, shutdown and events (when p has them) are p's, and the
// SDK's client.Track goes to t. The OFREP provider has no tracker of its
// own, and the SDK calls only the provider's, so this is how Track reaches
// flagd:
//
//	openfeature.SetProviderAndWait(ofhook.WithTracking(ofrep.NewProvider(url), tracker))
func WithTracking(p openfeature.FeatureProvider, t *Tracker) openfeature.FeatureProvider {
	tp := &trackingProvider{FeatureProvider: p, Tracker: t}
	// The SDK finds optional abilities by type assertion on the provider
	// it is given: an EventHandler must stay one, and only then.
	if eh, ok := p.(openfeature.EventHandler); ok {
		return &eventingTrackingProvider{trackingProvider: tp, events: eh}
	}
	return tp
}

type trackingProvider struct {
	openfeature.FeatureProvider
	*Tracker
}

// Init and Shutdown pass the SDK's lifecycle on to a provider that has one.
func (p *trackingProvider) Init(ec openfeature.EvaluationContext) error {
	if sh, ok := p.FeatureProvider.(openfeature.StateHandler); ok {
		return sh.Init(ec)
	}
	return nil
}

func (p *trackingProvider) Shutdown() {
	if sh, ok := p.FeatureProvider.(openfeature.StateHandler); ok {
		sh.Shutdown()
	}
}

type eventingTrackingProvider struct {
	*trackingProvider
	events openfeature.EventHandler
}

func (p *eventingTrackingProvider) EventChannel() <-chan openfeature.Event {
	return p.events.EventChannel()
}

var (
	_ openfeature.Tracker      = (*trackingProvider)(nil)
	_ openfeature.StateHandler = (*trackingProvider)(nil)
	_ openfeature.EventHandler = (*eventingTrackingProvider)(nil)
)

// ExposureOnUse is a header for the OFREP provider's requests
// (ofrep.WithHeaderProvider(ofhook.ExposureOnUse)) that asks flagd not to
// publish the exposure of the evaluation itself: the hook reports it, so a
// user is exposed once, whatever flagd's --exposures says for other apps.
func ExposureOnUse() (name, value string) { return "Flagstream-Exposure", "on-use" }
