"""AWS adapters: DynamoDB tables (pynamodb), channels (email over SES v2), the EventBridge
publisher, templates."""
