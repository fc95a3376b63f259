{#-
    canonical_enum(expr, values): the enum value spelled as in `values` whatever its case
    (' gold' -> 'Gold' after trimming); an empty text is NULL, and anything else is kept as it came
    so the model's accepted_values test reports it instead of it vanishing.
-#}
{% macro canonical_enum(expr, values) -%}
    case lower({{ expr }})
        {%- for value in values %}
        when '{{ value | lower }}' then '{{ value }}'
        {%- endfor %}
        else nullif({{ expr }}, '')
    end
{%- endmacro %}
