-- placeholder for the lead's 008 while it is not merged; never committed
SELECT 1;
