-- compose.yaml's `postgres`, on its first start (an empty data volume): each service's own
-- database, owned by a role of the service's own that can reach no other (ORDERFLOW_DATABASE_URL
-- of each service in compose.yaml). Development passwords, as the broker's users have.
-- The official image runs this once, from /docker-entrypoint-initdb.d; `docker compose down -v`
-- (or removing the stack's volume) starts afresh.
CREATE ROLE orderflow_order LOGIN PASSWORD 'orderflow-order-dev';
CREATE ROLE orderflow_inventory LOGIN PASSWORD 'orderflow-inventory-dev';
CREATE ROLE orderflow_payment LOGIN PASSWORD 'orderflow-payment-dev';
CREATE ROLE orderflow_notification LOGIN PASSWORD 'orderflow-notification-dev';
CREATE DATABASE orderflow_order OWNER orderflow_order;
CREATE DATABASE orderflow_inventory OWNER orderflow_inventory;
CREATE DATABASE orderflow_payment OWNER orderflow_payment;
CREATE DATABASE orderflow_notification OWNER orderflow_notification;
-- Owners connect to their own database only (CONNECT is granted to PUBLIC by default).
REVOKE CONNECT ON DATABASE orderflow_order, orderflow_inventory, orderflow_payment,
    orderflow_notification FROM PUBLIC;
GRANT CONNECT ON DATABASE orderflow_order TO orderflow_order;
GRANT CONNECT ON DATABASE orderflow_inventory TO orderflow_inventory;
GRANT CONNECT ON DATABASE orderflow_payment TO orderflow_payment;
GRANT CONNECT ON DATABASE orderflow_notification TO orderflow_notification;
