// Package deploy holds IntelliDox's Kubernetes manifests (kustomize: base/,
// components/settings/, overlays/aws/) and Dockerfiles (docker/), and the
// tests that gate them: no cluster runs on the build machines, so the
// manifests are rendered in-process with kustomize, decoded strictly into
// the Kubernetes API types (unknown fields are errors) and the Dapr resource
// shapes, and checked against the invariants in invariants_test.go.
//
// docs/deploy-aws.md explains how to use them.
package deploy
