// Package batchpb holds the protobuf messages of the batch wire format,
// generated from batch.proto by `make generate`. Only package batch uses
// them; everyone else uses its API.
package batchpb
