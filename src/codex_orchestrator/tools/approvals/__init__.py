"""Approval reuse: Codex rules, the known-safe list, canonical keys and the persistent store.

Import the submodules directly (`from .approvals.rules import load_rules`); this
package imports nothing so that loading one part never pays for the others.
"""
