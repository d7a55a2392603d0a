"""flexinference.v1: RouteService, UsageService, BillingService (generated code beside this)."""
