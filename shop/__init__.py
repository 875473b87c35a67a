"""The shop appliance: storefront, REST API and back office in one Reflex app."""
