// Package yamlfile reads the YAML files people write for Kanal (the signal
// catalog, DBC mappings, agent configs) and reports their mistakes the way a
// compiler does: file:line:column, every mistake of a file at once, in file
// order.
//
// It works on yaml.v3 nodes rather than decoding into structs, because a node
// keeps its position: a loader walks the tree with Errors.Pairs and
// Errors.Scalar, records what is wrong with Errors.Addf and returns
// Errors.Err. Unknown keys are mistakes, not extensions, so a typo is caught
// before a vehicle leaves the workshop.
package yamlfile
