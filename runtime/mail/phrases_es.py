"""Spanish phrases of the generated mail corpus (see ``runtime.mail.corpus``).

Placeholders are filled per mail: {name} {sender} {company} {amount} {invoice} {date} {order}
{product} {days} {ticket} {url} {month} {percent}.
"""

GREETINGS = [
    "Hola {name}:", "Buenos días,", "Estimado/a {name}:", "Hola equipo,", "Buenas tardes,",
    "Estimados señores:", "Hola,", "Estimado cliente:", "Querido {name},", "A quien corresponda:",
]
CLOSINGS = [
    "Un saludo,", "Saludos cordiales,", "Gracias,", "Atentamente,", "Muchas gracias,",
    "Un abrazo,", "Quedo a la espera,", "Saludos,", "Cordialmente,", "Gracias de antemano,",
]
FILLER = [
    "Espero que estés bien.",
    "Cualquier duda me dices.",
    "El viernes no estaré en la oficina.",
    "Perdona el retraso en contestar.",
    "Si lo prefieres, llámame por teléfono.",
    "Pongo en copia a mi compañero {sender}.",
    "Gracias de nuevo por tu ayuda.",
    "Espero que hayas tenido un buen fin de semana.",
]
DISCLAIMERS = [
    "Este mensaje y sus anexos son confidenciales y se dirigen exclusivamente a su destinatario.",
    "Antes de imprimir este correo, piense si es necesario.",
    "Enviado desde mi móvil.",
]
REPLY_PREFIXES = ["RE: ", "Re: ", "RV: ", "Fwd: "]

CLASSES = {
    "invoice": {
        "subjects": [
            "Factura {invoice}", "Su factura de {company}", "Factura {invoice} de {month}",
            "Nueva factura disponible", "{company} - factura {invoice}", "Envío de factura",
            "Factura adjunta", "Ya tiene disponible su factura", "Factura del pedido {order}",
            "Factura rectificativa {invoice}", "Factura mensual - {company}",
            "Recibo y factura {invoice}",
        ],
        "sentences": [
            "Adjuntamos la factura {invoice} por importe de {amount}.",
            "Le enviamos la factura correspondiente a los servicios de {month}.",
            "El importe total a pagar es de {amount}, con vencimiento el {date}.",
            "Adjunto encontrará la factura del pedido {order} en PDF.",
            "Hemos emitido la factura {invoice} con fecha {date}.",
            "La forma de pago es transferencia bancaria a {days} días.",
            "La factura corresponde al suministro de {product} del {date}.",
            "Puede abonar el importe mediante transferencia a la cuenta indicada en la factura.",
            "Por favor, haga llegar esta factura a su departamento de contabilidad.",
            "Le remitimos la factura de su suscripción a {product}.",
            "El importe de {amount} incluye el IVA.",
            "Ya está disponible su extracto mensual por un total de {amount}.",
            "Rogamos tramiten la factura adjunta a la mayor brevedad.",
            "El número de factura es {invoice}; indíquelo al realizar el pago.",
            "Gracias por su compra, adjuntamos la factura por {amount}.",
            "Adjuntamos nuestra factura del proyecto {product} para su archivo.",
        ],
    },
    "reminder": {
        "subjects": [
            "Recordatorio de pago: factura {invoice}", "Factura vencida {invoice}",
            "Segundo aviso - pago pendiente", "Recordatorio: {amount} pendiente",
            "Último aviso: factura {invoice}", "Su pago está vencido",
            "Recordatorio: la factura {invoice} vence el {date}", "Saldo pendiente en su cuenta",
            "URGENTE: factura {invoice} impagada", "Aviso de deuda de {company}",
            "Pago no recibido", "Último recordatorio antes de reclamación",
        ],
        "sentences": [
            "Según nuestros registros, la factura {invoice} de {amount} sigue pendiente de pago.",
            "Le recordamos que el pago de {amount} vencía el {date}.",
            "La factura lleva ya {days} días vencida.",
            "Todavía no hemos recibido el pago de la factura {invoice}.",
            "Le rogamos que abone el saldo pendiente de {amount} lo antes posible.",
            "Si ya ha realizado el pago, por favor ignore este recordatorio.",
            "Se aplicarán recargos por demora si el importe no se abona antes del {date}.",
            "Este es nuestro segundo aviso sobre el importe vencido.",
            "Le rogamos regularice la factura vencida en un plazo de {days} días.",
            "El impago puede suponer la suspensión del servicio.",
            "¿Podría confirmarnos cuándo realizará el pago?",
            "Si no recibimos el pago, el expediente pasará a nuestro departamento de cobros.",
            "Le enviamos la factura {invoice} el {date} y la fecha de vencimiento ha pasado.",
            "Por favor, envíenos el justificante de la transferencia una vez realizada.",
            "Su deuda de {amount} sigue pendiente a pesar de nuestro aviso anterior.",
            "Este es el último aviso antes de iniciar acciones legales.",
        ],
    },
    "support": {
        "subjects": [
            "Problema con mi pedido {order}", "No puedo acceder a mi cuenta", "Necesito ayuda",
            "Consulta sobre {product}", "Incidencia #{ticket}", "Fallo en la aplicación",
            "Solicitud de devolución del pedido {order}", "Error al subir archivos",
            "¿Cómo cambio mi contraseña?", "El producto no funciona", "Solicito asistencia",
            "He recibido un artículo equivocado",
        ],
        "sentences": [
            "Desde ayer no puedo iniciar sesión en mi cuenta.",
            "El {product} que recibí no funciona correctamente.",
            "¿Me podéis ayudar a restablecer la contraseña?",
            "Me aparece un error cuando intento subir un archivo.",
            "Mi pedido {order} llegó dañado, ¿qué tengo que hacer?",
            "Quisiera solicitar la devolución del pedido {order}.",
            "La aplicación se cierra cada vez que abro la configuración.",
            "¿Cómo puedo cambiar el correo electrónico de mi cuenta?",
            "Me habéis cobrado dos veces el mismo pedido.",
            "¿Podéis indicarme cómo exportar mis datos?",
            "En el paquete venía un artículo que no pedí.",
            "La instalación falla con el código de error {ticket}.",
            "Por favor, ayúdenme, llevo {days} días esperando respuesta.",
            "¿Hay alguna forma de cancelar mi suscripción?",
            "El enlace de seguimiento de mi envío no funciona.",
            "Necesito ayuda para configurar {product} en mi ordenador.",
        ],
    },
    "spam": {
        "subjects": [
            "¡Has ganado un {product}!", "Oferta limitada: {percent}% de descuento solo hoy",
            "Nuestro boletín de {month}", "Enhorabuena, has sido seleccionado",
            "Última oportunidad: las rebajas terminan esta noche", "Oferta exclusiva para ti",
            "Su cuenta ha sido bloqueada - verifíquela ahora", "Gana dinero desde casa",
            "Resumen semanal de {company}", "Regalo gratis dentro", "¡No te lo pierdas!",
            "Adelgaza rápido con este truco",
        ],
        "sentences": [
            "Haz clic aquí para conseguir tu {product} gratis.",
            "Llévate un {percent}% de descuento en todos los productos este fin de semana.",
            "Has sido seleccionado para recibir un premio exclusivo.",
            "Para darte de baja de este boletín, pulsa el enlace de abajo.",
            "Verifique su cuenta inmediatamente en {url} o será cancelada.",
            "Gana miles de euros a la semana trabajando desde casa.",
            "Esta oferta caduca en 24 horas, ¡aprovéchala!",
            "En este número: nuestras últimas noticias, consejos y novedades.",
            "Compra uno y llévate otro gratis en todos los artículos de {product}.",
            "Recibes este correo porque te suscribiste a nuestra lista de correo.",
            "¡Enhorabuena! Tu dirección de correo ha ganado nuestro sorteo mensual.",
            "Descubre la nueva colección en {url}.",
            "Existencias limitadas, pide hoy y ahorra a lo grande.",
            "Actualiza tus preferencias o date de baja en cualquier momento.",
            "Invierte ahora y duplica tu dinero en {days} días.",
            "Síguenos en redes sociales para más ofertas.",
        ],
    },
    "other": {
        "subjects": [
            "Reunión el {date}", "¿Comemos mañana?", "Novedades del equipo", "Fuera de la oficina",
            "Orden del día del lunes", "Arranque del proyecto", "Calendario de vacaciones",
            "Una pregunta rápida", "Notas de la llamada de hoy", "Bienvenido al equipo",
            "Oficina cerrada el {date}", "Tu paquete ha sido enviado",
        ],
        "sentences": [
            "¿Podemos pasar la reunión al {date}?",
            "Te adjunto las notas de la llamada de hoy.",
            "Estaré fuera de la oficina hasta el {date} con acceso limitado al correo.",
            "¿Comemos mañana a las dos?",
            "Por favor, revisad el orden del día antes de la reunión del lunes.",
            "Bienvenido {name}, estamos encantados de tenerte en el equipo.",
            "La oficina permanecerá cerrada el {date} por festivo.",
            "Tu paquete con {product} ha salido y llegará pronto.",
            "Aquí tienes las diapositivas de la presentación.",
            "¿Me pasas la última versión del plan del proyecto?",
            "La jornada fuera de la oficina será en {month}.",
            "Gracias por el gran trabajo en el lanzamiento de {product}.",
            "He reservado la sala de reuniones para el jueves por la tarde.",
            "Por favor, rellenad la encuesta sobre la nueva distribución de la oficina.",
            "La reunión trimestral de toda la empresa será el {date}.",
            "¡Enhorabuena por el ascenso, muy merecido!",
        ],
    },
}
