"""AWS adapters: DynamoDB tables (pynamodb), SES sender, EventBridge publisher, templates."""
