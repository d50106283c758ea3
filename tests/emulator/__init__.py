"""An extension of kmock's Kubernetes API emulator for operator and chart tests."""
