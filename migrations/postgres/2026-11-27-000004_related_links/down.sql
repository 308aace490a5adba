DROP TABLE related_links;
