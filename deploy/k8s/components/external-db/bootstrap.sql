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
