//! End-to-end tests against real peers (see the tests issue).
