{#-
    The incremental materialization on PostgreSQL, so that `incremental_strategy='insert_overwrite'`
    works there too (see macros/insert_overwrite.sql for the model config).

    dbt-postgres rejects the builtin strategy name 'insert_overwrite' before any macro is looked
    up, so the name cannot be served by a custom `get_incremental_insert_overwrite_sql` alone.
    This materialization handles that strategy itself and hands every other strategy to dbt's
    default incremental materialization, unchanged.

    insert_overwrite here:
    - first run: create the table from the model's query; index its partition key;
    - --full-refresh (or a view in the way): build a new table beside it, swap by renaming;
    - incremental run: build the batch in a temporary table, then in one transaction delete the
      target's rows whose partition key is in the batch and insert the batch.
    Then ANALYZE the table (a day's run: its partition key), so that later models and tests plan
    on its new days.
-#}
{% materialization incremental, adapter='postgres' -%}

    {%- if config.get('incremental_strategy') != 'insert_overwrite' -%}
        {{ return(materialization_incremental_default()) }}
    {%- endif -%}

    {%- set partition_keys = insert_overwrite_partition_keys() -%}

    -- relations
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set temp_relation = make_temp_relation(target_relation) -%}
    {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
    {%- set backup_relation = make_backup_relation(
        target_relation, 'table' if existing_relation is none else existing_relation.type) -%}
    {%- set full_refresh_mode = existing_relation is not none
        and (should_full_refresh() or existing_relation.is_view) -%}
    {%- set on_schema_change = incremental_validate_on_schema_change(
        config.get('on_schema_change'), default='ignore') -%}
    {%- set grant_config = config.get('grants') -%}

    {{ drop_relation_if_exists(load_cached_relation(intermediate_relation)) }}
    {{ drop_relation_if_exists(load_cached_relation(backup_relation)) }}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    -- `BEGIN` happens here
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if existing_relation is none or full_refresh_mode -%}
        {%- set build_relation = intermediate_relation if full_refresh_mode else target_relation -%}
        {#- rows stored in partition-key order: a day's run and its tests then read their few
            days' blocks, not rows of every day scattered over the whole table (the model's
            own order, e.g. a ranking by id, spreads each day over all of it) -#}
        {%- set ordered_sql -%}
            select * from (
                {{ sql }}
            ) as model_rows
            order by {{ partition_keys | join(', ') }}
        {%- endset -%}
        {% call statement('main') %}
            {{ get_create_table_as_sql(False, build_relation, ordered_sql) }};
            create index on {{ build_relation }} ({{ partition_keys | join(', ') }});
        {% endcall %}
        {% do create_indexes(build_relation) %}
        {%- if full_refresh_mode -%}
            {% do adapter.rename_relation(existing_relation, backup_relation) %}
            {% do adapter.rename_relation(intermediate_relation, target_relation) %}
        {%- endif -%}
    {%- else -%}
        {% do run_query(get_create_table_as_sql(True, temp_relation, sql)) %}
        {% do adapter.expand_target_column_types(
            from_relation=temp_relation, to_relation=target_relation) %}
        {%- set dest_columns = process_schema_changes(
            on_schema_change, temp_relation, existing_relation) -%}
        {%- if not dest_columns -%}
            {%- set dest_columns = adapter.get_columns_in_relation(existing_relation) -%}
        {%- endif -%}
        {% call statement('main') %}
            {{ get_incremental_insert_overwrite_sql({
                'target_relation': target_relation,
                'temp_relation': temp_relation,
                'unique_key': none,
                'dest_columns': dest_columns,
                'incremental_predicates': none,
            }) }}
        {% endcall %}
    {%- endif -%}
    {#- statistics for the readers later in the run: PostgreSQL's histogram would end before the
        new days, estimate one row for them, and join them by nested loops (10 s instead of 0.3 s
        for f_customer_retention after a day of f_sales). A new table gets every column's; a
        day's run only the partition key's, which is what its new days change (every column's
        would decode a sample of 30,000 wide rows, JSON documents among them, every day), from a
        sample of 3,000 rows: enough to see the new days, and 0.05 s instead of 0.5 s once the
        table outgrows 30,000 pages (a year of messages) -#}
    {%- if existing_relation is none or full_refresh_mode -%}
        {% do run_query('analyze ' ~ target_relation) %}
    {%- else -%}
        {% do run_query('set local default_statistics_target = 10') %}
        {% do run_query('analyze ' ~ target_relation ~ ' (' ~ partition_keys | join(', ') ~ ')') %}
    {%- endif %}

    {% do apply_grants(target_relation, grant_config,
        should_revoke=should_revoke(existing_relation, full_refresh_mode)) %}
    {% do persist_docs(target_relation, model) %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    -- `COMMIT` happens here
    {% do adapter.commit() %}

    {%- if full_refresh_mode -%}
        {% do adapter.drop_relation(backup_relation) %}
    {%- endif -%}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}

{%- endmaterialization %}
