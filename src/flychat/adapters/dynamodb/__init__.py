"""DynamoDB store on boto3: log, calls, items, table, URL."""
