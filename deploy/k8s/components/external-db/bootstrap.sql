\set ON_ERROR_STOP on
\getenv auth_password AUTH_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', 'mercato_auth') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mercato_auth')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', 'mercato_auth', :'auth_password')\gexec
SELECT format('GRANT %I TO CURRENT_USER', 'mercato_auth')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mercato_auth', 'mercato_auth') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mercato_auth')\gexec
\getenv user_password USER_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', 'mercato_user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mercato_user')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', 'mercato_user', :'user_password')\gexec
SELECT format('GRANT %I TO CURRENT_USER', 'mercato_user')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mercato_user', 'mercato_user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mercato_user')\gexec
\getenv product_password PRODUCT_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', 'mercato_product') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mercato_product')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', 'mercato_product', :'product_password')\gexec
SELECT format('GRANT %I TO CURRENT_USER', 'mercato_product')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mercato_product', 'mercato_product') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mercato_product')\gexec
\getenv inventory_password INVENTORY_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', 'mercato_inventory') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mercato_inventory')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', 'mercato_inventory', :'inventory_password')\gexec
SELECT format('GRANT %I TO CURRENT_USER', 'mercato_inventory')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mercato_inventory', 'mercato_inventory') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mercato_inventory')\gexec
\getenv order_password ORDER_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', 'mercato_order') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mercato_order')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', 'mercato_order', :'order_password')\gexec
SELECT format('GRANT %I TO CURRENT_USER', 'mercato_order')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mercato_order', 'mercato_order') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mercato_order')\gexec
\getenv payment_password PAYMENT_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', 'mercato_payment') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mercato_payment')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', 'mercato_payment', :'payment_password')\gexec
SELECT format('GRANT %I TO CURRENT_USER', 'mercato_payment')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mercato_payment', 'mercato_payment') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mercato_payment')\gexec
\getenv notification_password NOTIFICATION_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', 'mercato_notification') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mercato_notification')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', 'mercato_notification', :'notification_password')\gexec
SELECT format('GRANT %I TO CURRENT_USER', 'mercato_notification')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mercato_notification', 'mercato_notification') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mercato_notification')\gexec
\getenv review_password REVIEW_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', 'mercato_review') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mercato_review')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', 'mercato_review', :'review_password')\gexec
SELECT format('GRANT %I TO CURRENT_USER', 'mercato_review')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mercato_review', 'mercato_review') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mercato_review')\gexec
\getenv analytics_password ANALYTICS_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', 'mercato_analytics') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mercato_analytics')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', 'mercato_analytics', :'analytics_password')\gexec
SELECT format('GRANT %I TO CURRENT_USER', 'mercato_analytics')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mercato_analytics', 'mercato_analytics') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mercato_analytics')\gexec
\getenv log_password LOG_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', 'mercato_log') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mercato_log')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', 'mercato_log', :'log_password')\gexec
SELECT format('GRANT %I TO CURRENT_USER', 'mercato_log')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', 'mercato_log', 'mercato_log') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mercato_log')\gexec
