package ofhook_test

import (
	"context"
	"log"
	"time"

	"github.com/open-feature/go-sdk-contrib/providers/ofrep"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/flagstream/flagstream/pkg/ofhook"
)

// A Go app's setup: the OFREP provider for evaluation, wrapped for
// client.Track, and the hook that reports the flags the app evaluates
// (flagd leaves those exposures to it: ExposureOnUse).
func Example() {
	opts := ofhook.Options{URL: "http://flagd:8080", Token: "<evaluate token>",
		OnError: func(err error) { log.Print(err) }}
	hook, err := ofhook.NewHook(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hook.Close(ctx) // sends what is queued
	}()
	tracker, err := ofhook.NewTracker(opts)
	if err != nil {
		log.Fatal(err)
	}
	// ExposureOnUse: flagd leaves the exposure to the hook, so it counts once.
	provider := ofrep.NewProvider(opts.URL, ofrep.WithBearerToken(opts.Token), ofrep.WithHeaderProvider(ofhook.ExposureOnUse))
	if err := openfeature.SetProviderAndWait(ofhook.WithTracking(provider, tracker)); err != nil {
		log.Fatal(err)
	}
	openfeature.AddHooks(hook)

	client := openfeature.NewClient("shop")
	ctx := context.Background()
	user := openfeature.NewEvaluationContext("user_789", map[string]any{"country": "NZ"})
	// Evaluate where the value is used: that evaluation is the exposure.
	if client.String(ctx, "checkout_redesign", "control", user) == "treatment" {
		_ = "render the new checkout"
	}
	// A purchase: a conversion of user_789, attributed to the experiment.
	client.Track(ctx, "purchase", user,
		openfeature.NewTrackingEventDetails(99.99).Add("experiment", "checkout_redesign"))
}
