// Package transfers bounds the outbound transfers tenants make the gateway
// run: v1 copy-from copies, web-download imports and import tasks. Each of
// those is size-capped, but without a bound a tenant creating many images
// could start any number of them at once. Glance runs its imports on a
// taskflow executor of `[taskflow_executor] max_workers` (10) threads and
// queues the rest; a Limiter does the same, with two bounds Glance leaves
// to its operators' quotas:
//
//   - at most MaxActive transfers run at once, gateway-wide;
//   - at most MaxQueued wait for a slot; beyond that a transfer is refused;
//   - one project has at most PerProject transfers running or waiting, so
//     it can neither fill the queue nor take every slot. Slots that free
//     go to the waiting projects in turn, not to the longest queue.
//
// A refusal is a *LimitError whose text is Glance's LimitExceeded, what
// Glance's import flow records in the failed task when the project is over
// its image_count_uploading limit. Waiting ends with the caller's ctx or
// with Close; the transfer is then never run and Do returns the reason, so
// the caller fails it the way its method fails (copy-from: the image is
// killed; web-download: a failed import).
//
// Usage (the transfer is whatever reaches out: the fetch and the write):
//
//	l, err := transfers.New(transfers.Options{MaxActive: 10, PerProject: 5, MaxQueued: 100})
//	...
//	err = l.Do(ctx, caller.Project, func(ctx context.Context) error {
//		resp, err := fetcher.Get(ctx, uri)
//		...
//	})
//	var lim *transfers.LimitError
//	if errors.As(err, &lim) { ... } // refused: over a bound
//
// Consumers hold it through an interface of their own with Do's signature.
package transfers
